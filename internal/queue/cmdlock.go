package queue

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"umbra/internal/leftover"
)

// The db commands' side lock (ops26 1).
//
// An offline db command that writes the database (restore, compact)
// reads a good deal before it may take the database's own lock: a
// restore checks the backup and counts what it would leave behind, and
// that count opens the database with a shared lock of its own, which
// the restore's exclusive one would exclude. A daemon started in those
// seconds opened the database first, and the restore was refused as in
// use. So such a command first takes a lock beside the database,
// path.cmdlock in the data directory (flock, exclusive), and writes its
// pid and command line in it for the operator and for the daemon, and
// removes it at its end, still holding it (removeCmdLock): the
// daemon's Open takes that lock shared before it opens the database and
// lets it go when it is open, so it waits while a command runs — and
// names the command from the file, also where /proc/locks is hidden (the
// shipped units' ProcSubset=pid), as HeldBy's pid and command.
//
// A flock dies with its holder: a command killed leaves the file with its
// words in it but no lock, and nothing reads the words of a file nobody
// locks — a stale side lock never blocks (the next taker removes it at
// its end). A daemon makes the file when it is missing and removes it
// once open, unless another daemon holds it too. Two daemons take it shared
// together (they meet at the database's own lock, as before), and the
// database's lock keeps every check it had: a db command of an older
// release, which knows no side lock, is still found there (by the
// daemon's Open waiting for it, by LockHolder). A lock on a removed file
// locks nothing another opener sees: every taker checks, once it holds
// it, that the name still names its file, and else opens the name again.
//
// The data directory is the daemon's user's, and a command may run as
// root: it writes its words only in a file it made just now or one with
// one name that is its own user's or the data directory owner's and
// that it opened for writing; any other file at the name (a hard link
// to a file elsewhere — O_NOFOLLOW stops only a symlink —, a third
// user's file) has its name removed under the lock and the file is made
// afresh (opsec26 F1). A name that is no regular file (a symlink, a
// directory, a socket) is no side lock: the database's own lock guards
// the command then (opsec26 F4). A db command looks at, makes, replaces
// and removes the file through the descriptor of the data directory it
// holds, never by its path: a data directory moved and replaced by a
// link while the command ran had the command's end remove the side lock
// where the link led and leave its own (rt30c F3).

// cmdLockSuffix names the side lock beside the database.
const cmdLockSuffix = leftover.CmdLockSuffix

// CmdLockPath is the db commands' side lock of the database at path.
func CmdLockPath(path string) string { return path + cmdLockSuffix }

// openCmdLock opens (creating it, mode 0644: a daemon of another user
// than the command's reads it) the side lock of the database at path:
// nil and no error when there is nothing to lock (no data directory
// yet, or the name is no regular file — a symlink, a directory, a
// socket, a FIFO: the database's own lock guards it then, as before).
// Without create a missing file is nothing to lock either (a probe:
// LockState). With dir (the data directory a db command holds) the file
// is looked up through dir's descriptor, never through path's
// directory, which may be a link by now (rt30c F3); nil dir: by path
// (a daemon, a probe). fresh is true when this call made the file (O_EXCL): it
// is the caller's own; any other file there may be one the daemon's
// user put there, a hard link to a file elsewhere among them
// (lockCommand).
func openCmdLock(dir *os.File, path string, create bool) (f *os.File, fresh bool, err error) {
	name := CmdLockPath(path)
	dirfd, at := unix.AT_FDCWD, name
	if dir != nil {
		dirfd, at = int(dir.Fd()), filepath.Base(name)
	}
	flags := unix.O_NOFOLLOW | unix.O_CLOEXEC | unix.O_NONBLOCK | unix.O_NOCTTY
	fd, err := unix.Openat(dirfd, at, unix.O_RDWR|flags, 0)
	if errors.Is(err, unix.ENOENT) && create {
		fd, err = unix.Openat(dirfd, at, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|flags, 0o644)
		fresh = err == nil
		if errors.Is(err, unix.EEXIST) {
			fd, err = unix.Openat(dirfd, at, unix.O_RDWR|flags, 0)
		}
	}
	if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EROFS) || errors.Is(err, unix.EPERM) {
		fd, err = unix.Openat(dirfd, at, unix.O_RDONLY|flags, 0) // locked, not written (lockCommand replaces it if it can)
	}
	// A directory (EISDIR) or a socket (ENXIO) at the name: no regular
	// file, nothing to lock, as the doc above says (opsec26 F4).
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ELOOP) || errors.Is(err, unix.EACCES) || errors.Is(err, unix.EROFS) ||
		errors.Is(err, unix.EISDIR) || errors.Is(err, unix.ENXIO) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, &os.PathError{Op: "open", Path: name, Err: err}
	}
	f = os.NewFile(uintptr(fd), name)
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		f.Close()
		return nil, false, nil
	}
	if fresh && os.Geteuid() == 0 {
		// A command run as root: the daemon's user may write it too.
		if o, ok := dirOwner(dir, path); ok {
			f.Chown(o.uid, o.gid)
		}
	}
	return f, fresh, nil
}

// dirOwner is the owner of the data directory: dir, held, or path's
// directory when dir is nil.
func dirOwner(dir *os.File, path string) (fileOwner, bool) {
	if dir != nil {
		return heldOwner(dir)
	}
	return ownerOf(filepath.Dir(path))
}

// renamedUnderIn is renamedUnder of name's last name in dir (nil: name
// itself), not following a symlink there.
func renamedUnderIn(dir *os.File, f *os.File, name string) bool {
	if dir == nil {
		return renamedUnder(f, name)
	}
	var held, named unix.Stat_t
	if unix.Fstat(int(f.Fd()), &held) != nil {
		return false
	}
	if unix.Fstatat(int(dir.Fd()), filepath.Base(name), &named, unix.AT_SYMLINK_NOFOLLOW) != nil {
		return true
	}
	return held.Dev != named.Dev || held.Ino != named.Ino
}

// removeNameIn removes name's last name from dir (nil: name itself).
func removeNameIn(dir *os.File, name string) error {
	if dir == nil {
		return os.Remove(name)
	}
	return unix.Unlinkat(int(dir.Fd()), filepath.Base(name), 0)
}

// cmdLockWritable tells whether the side lock f, which this process did
// not make, is one a command may write its words in: opened for
// writing, with one name only (a hard link planted at the name would
// have root write through it into a file elsewhere: walkOwned refuses
// such a file for the same reason), and owned by this process's user
// or by the data directory's (the daemon's, which makes it too) — not
// a file of a third user moved in (opsec26 F1).
func cmdLockWritable(dir, f *os.File, path string) bool {
	if fl, err := unix.FcntlInt(f.Fd(), unix.F_GETFL, 0); err != nil || fl&unix.O_ACCMODE != unix.O_RDWR {
		return false
	}
	var st unix.Stat_t
	if unix.Fstat(int(f.Fd()), &st) != nil || st.Nlink != 1 {
		return false
	}
	if int(st.Uid) == os.Geteuid() {
		return true
	}
	o, ok := dirOwner(dir, path)
	return ok && int(st.Uid) == o.uid
}

// lockCommand takes the side lock of the database at path for an
// offline db command (exclusive), retrying for up to wait, and writes
// this process's pid and command line in it. *InUseError when another
// process holds it past wait: a daemon opening the database, or another
// db command (named where /proc/locks tells). unlock removes the file
// and lets the lock go. dir is the data directory the command holds:
// the file is made, looked at, replaced and removed through its
// descriptor, never by a path that may lead elsewhere by then (rt30c F3:
// a data directory swapped for a link at the command's end had its
// removal delete the side lock where the link led, and left the
// command's own).
func lockCommand(dir *os.File, path string, wait time.Duration) (unlock func(), killedAt time.Time, err error) {
	deadline := time.Now().Add(wait)
	for replaced := 0; ; {
		f, fresh, err := openCmdLock(dir, path, true)
		if err != nil || f == nil {
			return func() {}, killedAt, err
		}
		for {
			err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
			if err == nil || !errors.Is(err, unix.EWOULDBLOCK) || !time.Now().Before(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if errors.Is(err, unix.EWOULDBLOCK) {
			e := &InUseError{Path: path}
			var st syscall.Stat_t
			if syscall.Fstat(int(f.Fd()), &st) == nil {
				e.PID = flockHolderOf(f.Name(), &st)
				e.Command = cmdlineOf(e.PID)
			}
			// Held exclusively (no shared lock can be had): another db
			// command, not a daemon, which takes it shared.
			e.DBCommand = unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB) != nil
			if e.PID == 0 && e.DBCommand {
				// /proc/locks hidden or of another pid namespace: the
				// db command that holds it wrote itself in it.
				e.PID, e.Command = wordsOfLiveHolder(f)
			}
			f.Close()
			return nil, time.Time{}, e
		}
		if err != nil {
			f.Close()
			return nil, time.Time{}, fmt.Errorf("locking %s: %w", f.Name(), err)
		}
		if renamedUnderIn(dir, f, f.Name()) {
			f.Close()
			continue
		}
		if !fresh && killedAt.IsZero() {
			// A killed process's, taken over: its time, before this
			// command's words change it, tells which empty queue.db
			// that process made (emptydb.go, rrlife39 F3).
			if fi, serr := f.Stat(); serr == nil {
				killedAt = fi.ModTime()
			}
		}
		if !fresh && !cmdLockWritable(dir, f, path) {
			// Not written through (a hard link to a file elsewhere, a
			// file of another user, or one this process cannot write):
			// its name is removed, under the lock — a waiter on it finds
			// it gone and opens the name again (renamedUnder) — and the
			// file made afresh. Where the name cannot be removed, the
			// lock is held and nothing is written.
			if replaced < 3 && removeNameIn(dir, f.Name()) == nil {
				replaced++
				f.Close()
				continue
			}
			return func() { f.Close() }, killedAt, nil
		}
		f.Truncate(0)
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"+strings.Join(os.Args, " ")+"\n"), 0)
		return func() { removeCmdLock(dir, f) }, killedAt, nil
	}
}

// wordsOfLiveHolder is the pid and command line written in the side
// lock f, which another process holds, when that pid is alive and, where
// its command line can be read, runs that command line (a killed
// command's words are left in the file: its pid may be gone or another
// process's now); 0 and "" else.
func wordsOfLiveHolder(f *os.File) (pid int, command string) {
	pid, command = cmdLockWords(f)
	if pid <= 0 {
		return 0, ""
	}
	if err := unix.Kill(pid, 0); err != nil && !errors.Is(err, unix.EPERM) {
		return 0, ""
	}
	if running := cmdlineOf(pid); running != "" && running != command {
		return 0, ""
	}
	return pid, command
}

// DBCommandHolder tells whether the holder err names (*InUseError) is
// a db command (restore, compact) rather than a daemon: the refusal then
// says to wait for it, not to stop umbra.
func DBCommandHolder(err error) bool {
	var ie *InUseError
	return errors.As(err, &ie) && (ie.DBCommand || strings.Contains(" "+ie.Command+" ", " db "))
}

// commandHolder is the db command that holds the side lock of the
// database at path, as it wrote itself in it (its pid, its command
// line), told by a shared lock that cannot be had; held false when none
// does (a stale file, its holder gone, holds no lock).
func commandHolder(path string) (held bool, pid int, command string) {
	f, _, err := openCmdLock(nil, path, false)
	if err != nil || f == nil {
		return false, 0, ""
	}
	defer f.Close()
	err = unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB)
	if err == nil {
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
		return false, 0, ""
	}
	if !errors.Is(err, unix.EWOULDBLOCK) {
		return false, 0, ""
	}
	pid, command = cmdLockWords(f)
	return true, pid, command
}

// cmdLockWords is the pid and command line a db command wrote in its
// side lock f (0 and "" when not written yet).
func cmdLockWords(f *os.File) (pid int, command string) {
	b, _ := io.ReadAll(io.NewSectionReader(f, 0, 64<<10))
	first, rest, _ := strings.Cut(string(b), "\n")
	pid, _ = strconv.Atoi(first)
	return pid, strings.TrimSpace(rest)
}

// waitCommands is the daemon's side of the side lock (Open): taken
// shared before the database is opened, and let go (release) once it
// is. Held by a db command: waited for 2 s, then, with heldBy, asked
// every HeldByEvery as for the database's own lock (Options.HeldBy),
// naming the command as it wrote itself; without heldBy refused as in
// use. release tells whether it removed a file this Open did not make
// (a killed command's side lock), for the start to log (Leftovers).
func waitCommands(path string, heldBy func(pid int, command string) error) (release func() (leftover bool), killed time.Time, err error) {
	if hookNoCmdLock {
		return func() bool { return false }, time.Time{}, nil
	}
	f, fresh, err := openCmdLock(nil, path, true)
	if err != nil || f == nil {
		return func() bool { return false }, time.Time{}, nil // the database's own lock guards it
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB)
		if err == nil {
			if renamedUnder(f, f.Name()) {
				f.Close()
				return waitCommands(path, heldBy)
			}
			// A file this Open did not make, that no command holds: a
			// killed command's (or a daemon's killed while it opened the
			// database), removed with this daemon's own and told to the
			// start's log as every other leftover (rt33c F3).
			// Its time (the last write of its words, or its making) tells
			// which empty queue.db the killed process may have made
			// (emptydb.go, rrlife39 F2).
			if !fresh {
				if fi, serr := f.Stat(); serr == nil {
					killed = fi.ModTime()
				}
			}
			return func() bool { return removeCmdLock(nil, f) && !fresh }, killed, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return func() bool { return false }, time.Time{}, nil
		}
		if time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		pid, command := cmdLockWords(f)
		if heldBy == nil {
			f.Close()
			return nil, time.Time{}, &InUseError{Path: path, PID: pid, Command: command}
		}
		if herr := heldBy(pid, command); herr != nil {
			f.Close()
			return nil, time.Time{}, &heldRefused{herr}
		}
		deadline = time.Now().Add(HeldByEvery)
	}
}

// cmdlineOf is the command line of pid ("" for 0 or when not told).
func cmdlineOf(pid int) string {
	if pid == 0 {
		return ""
	}
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
}

// removeCmdLock lets go of the side lock f, removing its file first
// when this process can hold it alone (a daemon's shared lock another
// daemon shares is left): whoever opened it meanwhile and waits finds it
// gone under its lock and opens the name again (renamedUnder), so
// nothing is left in the data directory once no one holds it. dir, the
// data directory a db command holds, is where the name is looked at and
// removed (nil: by the path, the daemon's own).
func removeCmdLock(dir, f *os.File) (removed bool) {
	if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil && !renamedUnderIn(dir, f, f.Name()) {
		removed = removeNameIn(dir, f.Name()) == nil
	}
	f.Close()
	return removed
}

// hookNoCmdLock, set by a test, makes Open a daemon of an older release,
// which knows no side lock (it meets a db command at the database's own
// lock only).
var hookNoCmdLock bool
