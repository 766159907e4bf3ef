package tracking

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
	"time"
)

// The log touches only files that are its own (rt27c F3): tracking.path
// once named another daemon's queue.db, and the log appended to it, its
// rotation renamed it and a later one deleted it — the other daemon ran
// on in a deleted file and found no database at its restart. So:
//   - Open (and CheckPath, for config check and reload) refuses a file
//     at the path, or at a rotated name the rotation would rename or
//     delete (path.1 … path.MaxFiles), that is not a tracking log: not a
//     regular file, or not empty and not starting with umbra's tracking
//     line ({"time":"…; lines shorter than that, torn ones, count only
//     as prefixes of it followed by such a line or the end of what is
//     read: ownHead); a bbolt file is named as one. Nothing is written
//     to it first (not even the newline that ends a torn line).
//   - Open takes an exclusive flock on the file it writes, and refuses a
//     file another process holds locked (a second daemon given the same
//     path, a live bbolt database); a rotation or reopen takes it on the
//     new file. Two daemons never share one log.
//   - A rotation renames and deletes only after checking that the file at
//     the path is still the one the log holds (device and inode) and that
//     every rotated file is a tracking log; otherwise it rotates nothing,
//     keeps writing its file and says so once. The age bound deletes only
//     rotated files that are tracking logs.

// linePrefix starts every line the log writes (encode.go).
const linePrefix = `{"time":"`

// bboltMagic is the magic of a bbolt meta page (little-endian
// 0xED0CDAED), 16 bytes into the file after the page header.
var bboltMagic = []byte{0xED, 0xDA, 0x0C, 0xED}

// errLocked: another process holds the file locked.
var errLocked = errors.New("locked by another process")

// ownHead reports whether a file starting with head is the log's own:
// empty, or its lines umbra's tracking lines. A line shorter than
// {"time":" may be the start of one, torn by a crash or a full disk
// (the log ends it with a newline at its next open or write), so such a
// line is taken when it is a prefix of {"time":" and what follows it
// is the log's as well: another such line, a line starting with the
// whole {"time":", or the end of head (a prefix of {"time":" reaching
// it, the empty one after a final newline included). A file's first
// line that starts with {"time":" makes it the log's. So "{" alone, or
// "{" and a newline, is the log's (a torn first line), but "{" followed
// by "  \"key\": …" (a pretty-printed JSON document: another program's
// daemon.json) is not (rr27 F2).
func ownHead(head []byte) bool {
	if len(head) == 0 {
		return true
	}
	for {
		line, rest, ended := bytes.Cut(head, []byte{'\n'})
		if len(line) >= len(linePrefix) {
			return bytes.HasPrefix(line, []byte(linePrefix))
		}
		if !bytes.HasPrefix([]byte(linePrefix), line) {
			return false
		}
		if !ended {
			return true // a prefix reaching the end of head
		}
		if len(line) == 0 {
			return false // the log writes no empty line
		}
		if len(rest) == 0 {
			return true // the newline that ended a torn line, and nothing yet
		}
		head = rest
	}
}

// checkOwn reads the start of f (named name) and refuses it when it is
// not a tracking log.
func checkOwn(name string, f *os.File) error {
	head := make([]byte, 4096)
	n, err := f.ReadAt(head, 0)
	if err != nil && err != io.EOF {
		return fmt.Errorf("tracking log %s: %w", name, err)
	}
	head = head[:n]
	if ownHead(head) {
		return nil
	}
	what := "it holds something other than umbra's tracking lines"
	if len(head) >= 20 && bytes.Equal(head[16:20], bboltMagic) {
		what = "a bbolt database: a transport database?"
	}
	return fmt.Errorf("tracking log %s is not a tracking log (%s): tracking.path must name a file of the log's own, "+
		"which it appends to, renames and deletes at rotation", name, what)
}

// checkFile refuses the file at name when it exists and is not a
// tracking log.
func checkFile(name string) error {
	f, err := openRegular(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	return checkOwn(name, f)
}

// checkRotated refuses the rotated files a rotation would rename or
// delete when one is not a tracking log.
func checkRotated(path string, maxFiles int) error {
	for i := 1; i <= maxFiles; i++ {
		if err := checkFile(fmt.Sprintf("%s.%d", path, i)); err != nil {
			return err
		}
	}
	return nil
}

// CheckPath refuses a tracking path whose file, or a rotated file the
// rotation would rename or delete, exists and is not a tracking log:
// what config check and a reload say before a start would refuse it.
// It takes no lock on the path itself: the running daemon of the same
// configuration holds its own log's. Nor does it refuse a rotation name
// held locked: a flock cannot tell another daemon's from this
// configuration's own daemon's file moved aside by logrotate or mv
// (path.1, held until its next event or SIGHUP) — Open, at a start,
// refuses it. Another process's lock on the base of a path that is a
// rotation name (X for X.N) refuses it here too (lockprobe.go), and so
// does a path that is a symbolic link, as Open refuses it (linkRefused).
//
// A file it may not read is no finding of its own: the check may run
// as another user than the daemon, and what the daemon may not open is
// refused by its start in its own words (the data directory's owner).
func CheckPath(path string, maxFiles int) error {
	if err := linkRefused(path); err != nil { // as Open refuses it
		return err
	}
	err := checkFile(path)
	if err == nil {
		err = checkRotated(path, maxFiles)
	}
	if err == nil {
		err = checkBaseHeld(path) // lockprobe.go
	}
	if errors.Is(err, fs.ErrPermission) {
		return nil
	}
	return err
}

// lock takes the exclusive lock on f, the file the log writes. A
// conflict is tried again a few times a millisecond apart: another
// process's probe (lockprobe.go: config check, a start refused) holds a
// shared lock for an instant, which must not cost the log its file.
func lock(name string, f *os.File) error {
	var err error
	for try := 0; try < lockTries; try++ {
		if try > 0 {
			time.Sleep(time.Millisecond)
		}
		if err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); !errors.Is(err, syscall.EWOULDBLOCK) {
			break
		}
	}
	if err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("tracking log %s is %w (another umbra daemon writing it, or another program's file): give each daemon a tracking.path of its own", name, errLocked)
		}
		return fmt.Errorf("tracking log %s: lock: %w", name, err)
	}
	return nil
}

// lockTries bounds lock's tries of a conflicting lock.
const lockTries = 20

// mayRotate says why a rotation must not rename or delete now: the
// file at the path is not the one the log holds, or a rotated file is
// not a tracking log. Called with l.mu held and l.f open.
func (l *Log) mayRotate() error {
	held, err := l.f.Stat()
	if err != nil {
		return err
	}
	at, err := os.Stat(l.path)
	if err != nil {
		return err
	}
	if !os.SameFile(held, at) {
		return fmt.Errorf("the file at %s is no longer the one the log opened", l.path)
	}
	if err := checkRotated(l.path, l.maxFiles); err != nil {
		return err
	}
	return checkRotatedHeld(l.path, l.maxFiles) // lockprobe.go
}

// ownRotated reports whether name is a regular file holding tracking
// lines (the age bound deletes no other).
func ownRotated(name string) bool {
	f, err := openRegular(name)
	if err != nil {
		return false
	}
	defer f.Close()
	return checkOwn(name, f) == nil
}
