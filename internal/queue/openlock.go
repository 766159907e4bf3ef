package queue

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// The lock before the walk (rt23c F1).
//
// bbolt takes its lock (flock: exclusive for a writable open, shared
// for a read-only one) inside bolt.Open. Every opener here reads the
// file before that — the meta pages (checkBoltFile) and the page walk
// (checkPageTree) — so that a damaged file is refused in words and not
// by bbolt's fatal checks. Done without the lock, that read meets the
// pages a running daemon is rewriting, and a live, sound database was
// reported damaged, with the advice to move it aside and start empty;
// and a compaction run while a daemon was still walking its pages at
// start was not refused. So the lock is taken first, on a descriptor of
// our own (lockDB), then the file is read, then bbolt is given that same
// descriptor (boltOptsOn): flock locks belong to the open file, so
// bbolt's own flock on it succeeds at once, and the lock is never let go
// between the walk and the open. A daemon holds its lock from before its
// walk, so the CLI tells a starting daemon (LockHolder) from the first
// instant.

// InUseError is a database file whose lock another process holds,
// naming that process where the system tells (/proc/locks): its pid and
// command line. errors.Is finds ErrInUse and bbolt's ErrTimeout in it.
type InUseError struct {
	Path    string
	PID     int
	Command string
	// DBCommand: the holder is another db command (it holds the db
	// commands' side lock exclusively, cmdlock.go), not a daemon.
	DBCommand bool
}

func (e *InUseError) Error() string {
	if e.PID == 0 {
		return fmt.Sprintf("%s is in use by another process", e.Path)
	}
	return fmt.Sprintf("%s is in use by pid %d (%s)", e.Path, e.PID, e.Command)
}

// Is makes errors.Is(err, ErrInUse) and errors.Is(err, ErrTimeout) true.
func (e *InUseError) Is(target error) bool {
	return target == ErrInUse || target == bolterrors.ErrTimeout
}

// lockDB opens the database file at path and takes the lock bbolt
// takes on it (exclusive when write, else shared), retrying for up to
// wait — a CLI's LockHolder probe holds a shared lock for an instant —
// and then refusing with *InUseError. The lock it returns is on the
// file path names when it is taken: a holder waited for that renamed
// another file to path (compact, restore) leaves path opened again. A
// writable open creates a missing file, as bbolt does, but never
// through a symlink (openDBFile). It returns nil and no error when path is not a
// regular file (or, read-only, does not exist): the caller's own checks
// say what it is, and bbolt opens nothing then. The file is handed to
// bbolt with boltOptsOn, which closes it (and so lets the lock go) at
// its Close or failed Open; a caller that does not get that far closes
// it.
func lockDB(path string, write bool, wait time.Duration) (*os.File, error) {
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return nil, nil // opening a FIFO waits for a writer, forever
	} else if err != nil && !write {
		return nil, nil
	}
	flag, how := os.O_RDONLY, syscall.LOCK_SH
	if write {
		flag, how = os.O_RDWR, syscall.LOCK_EX
	}
	deadline := time.Now().Add(wait)
	f, err := openDBFile(path, flag)
	if err != nil {
		return nil, err
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() { // replaced in between
		f.Close()
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			// The holder we waited for may have been a compaction or a
			// restore, which give path to a new file and then let go of
			// the old one's lock: the lock we now hold is on a file no
			// longer named path, and a daemon opening it would keep its
			// mail in a file deleted under it. Open path again and lock
			// that (renamedUnder).
			if renamedUnder(f, path) {
				f.Close()
				if f, err = openDBFile(path, flag); err != nil {
					return nil, err
				}
				if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
					f.Close()
					return nil, err
				}
				continue
			}
			return f, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		if hookLockWait != nil {
			hookLockWait(path)
		}
		if !time.Now().Before(deadline) {
			e := &InUseError{Path: path}
			var st syscall.Stat_t
			if syscall.Fstat(int(f.Fd()), &st) == nil {
				e.PID = flockHolderOf(path, &st)
			}
			if e.PID != 0 {
				b, _ := os.ReadFile("/proc/" + strconv.Itoa(e.PID) + "/cmdline")
				e.Command = strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
			}
			f.Close()
			return nil, e
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// openDBFile opens the database file at path with flag (os.O_RDONLY or
// os.O_RDWR); read-write, a missing one is created, empty, mode 0600,
// as bbolt would — with O_EXCL, which follows no symlink (opsec26 F3):
// a restore run as root with no database yet made a file, root's,
// wherever a dangling symlink the daemon's user put at queue.db named.
// An existing database reached through a symlink is opened as before.
// A dangling symlink at path is refused.
func openDBFile(path string, flag int) (*os.File, error) {
	f, err := os.OpenFile(path, flag, 0)
	if flag&os.O_RDWR == 0 || !errors.Is(err, fs.ErrNotExist) {
		return f, err
	}
	f, err = os.OpenFile(path, flag|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if !errors.Is(err, fs.ErrExist) {
		return f, err
	}
	// Made by another opener in between, or a symlink to nothing.
	f, err = os.OpenFile(path, flag, 0)
	if errors.Is(err, fs.ErrNotExist) {
		if fi, lerr := os.Lstat(path); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
			target, _ := os.Readlink(path)
			return nil, fmt.Errorf("%s is a symlink to %s, which does not exist: umbra makes no database through a link; "+
				"remove the link, or make the file it names", path, target)
		}
	}
	return f, err
}

// hookLockWait, when set by a test, runs each time lockDB finds the
// lock held and is about to wait.
var hookLockWait func(path string)

// renamedUnder tells whether path no longer names the file f: another
// file was renamed to path (or path removed) since f was opened.
func renamedUnder(f *os.File, path string) bool {
	var held, named syscall.Stat_t
	if syscall.Fstat(int(f.Fd()), &held) != nil {
		return false
	}
	if err := syscall.Stat(path, &named); err != nil {
		return true
	}
	return held.Dev != named.Dev || held.Ino != named.Ino
}

// boltOptsOn is o with bbolt opening f, locked by lockDB, instead of
// the file by its name (nil f: by its name, as before). Only bbolt's
// first open is f: it opens files again later through the same option
// (Tx.WriteTo reads the database through a descriptor of its own, which
// it closes; Tx.CopyFile opens its destination), and those are opened
// by name.
func boltOptsOn(f *os.File, o *bolt.Options) *bolt.Options {
	if f != nil {
		var given atomic.Bool
		o.OpenFile = func(name string, flag int, mode os.FileMode) (*os.File, error) {
			if given.CompareAndSwap(false, true) {
				return f, nil
			}
			return os.OpenFile(name, flag, mode)
		}
	}
	return o
}

// closeLocked lets go of a file lockDB locked that bbolt was not given.
func closeLocked(f *os.File) {
	if f != nil {
		f.Close()
	}
}
