package queue

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// Files an offline command writes in the data directory (opsec26).
//
// The data directory is the daemon's user's: that user can plant a
// symlink or a hard link at any name in it, while umbra is stopped or
// while a command runs. A db command run as root (restore, compact,
// backup) that opened such a name for writing would truncate and write
// the file the link names — anywhere on the filesystem, with root's
// rights. So a file a command writes there is made afresh: whatever has
// the name is removed (a link, never what it names) and the file is
// created with O_EXCL, which follows no symlink, not even a dangling
// one (createFresh). A file made so and opened again later by its name
// (a compaction's copy, which bbolt and the respooling open once more)
// is opened without following a symlink, and refused when it has more
// than one name: the daemon's user may have swapped the name meanwhile
// (openOwnCopy). The side lock, which a daemon makes too, has its own
// rule (cmdlock.go), and a missing database that a restore's lock makes
// is made the same way (lockDB).

// createFresh removes what is at path (not following it) and creates a
// new file there, mode 0600, with O_EXCL and O_NOFOLLOW, opened with
// flag (os.O_WRONLY or os.O_RDWR). Someone who plants a name again in
// between makes it fail (EEXIST): nothing is written then.
func createFresh(path string, flag int) (*os.File, error) {
	os.Remove(path)
	return os.OpenFile(path, flag|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o600)
}

// errNotOwnCopy is openOwnCopy's refusal: the name no longer names the
// file this command made.
var errNotOwnCopy = errors.New("is no longer the file this command made (a symlink or a second name of another file was put in its place)")

// openOwnCopy opens, read-write, the file at path that this command
// made (createFresh) — not following a symlink in its place and refusing
// a file with another name (a hard link to a file elsewhere).
func openOwnCopy(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("%s %w", path, errNotOwnCopy)
	}
	if err != nil {
		return nil, err
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		f.Close()
		return nil, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG || st.Nlink != 1 {
		f.Close()
		return nil, fmt.Errorf("%s %w", path, errNotOwnCopy)
	}
	return f, nil
}

// openOwnBolt is bolt.Open of this command's own copy at path, opened
// by openOwnCopy and handed to bbolt (boltOptsOn), which closes it.
func openOwnBolt(path string, o *bolt.Options) (*bolt.DB, error) {
	f, err := openOwnCopy(path)
	if err != nil {
		return nil, err
	}
	return bolt.Open(path, 0o600, boltOptsOn(f, o))
}

// createFreshBolt is bolt.Open of a new, empty database at path, made
// by createFresh and handed to bbolt (boltOptsOn), which closes it.
func createFreshBolt(path string, o *bolt.Options) (*bolt.DB, error) {
	f, err := createFresh(path, os.O_RDWR)
	if err != nil {
		return nil, err
	}
	return bolt.Open(path, 0o600, boltOptsOn(f, o))
}

// The In variants below do the same in a held directory (the data
// directory a db command walked under safepath.go's rule and holds):
// path's last name is looked up through dir's descriptor, never through
// the path, so a data directory moved and replaced by a link since it
// was held leads nothing there (stillAt refuses the command later; until
// then its copies are made, written, locked and removed in the directory
// it held). A nil dir is the path itself. path names the file in errors.

// createFreshIn is createFresh of path's last name in dir.
func createFreshIn(dir *os.File, path string, flag int) (*os.File, error) {
	if dir == nil {
		return createFresh(path, flag)
	}
	fd, name := int(dir.Fd()), filepath.Base(path)
	unix.Unlinkat(fd, name, 0)
	nfd, err := unix.Openat(fd, name, flag|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(nfd), path), nil
}

// openOwnCopyIn is openOwnCopy of path's last name in dir.
func openOwnCopyIn(dir *os.File, path string) (*os.File, error) {
	if dir == nil {
		return openOwnCopy(path)
	}
	nfd, err := unix.Openat(int(dir.Fd()), filepath.Base(path), unix.O_RDWR|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ELOOP) {
		return nil, fmt.Errorf("%s %w", path, errNotOwnCopy)
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(nfd, &st); err != nil {
		unix.Close(nfd)
		return nil, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Nlink != 1 {
		unix.Close(nfd)
		return nil, fmt.Errorf("%s %w", path, errNotOwnCopy)
	}
	return os.NewFile(uintptr(nfd), path), nil
}

// openOwnBoltIn is openOwnBolt of path's last name in dir.
func openOwnBoltIn(dir *os.File, path string, o *bolt.Options) (*bolt.DB, error) {
	f, err := openOwnCopyIn(dir, path)
	if err != nil {
		return nil, err
	}
	return bolt.Open(path, 0o600, boltOptsOn(f, o))
}

// createFreshBoltIn is createFreshBolt of path's last name in dir.
func createFreshBoltIn(dir *os.File, path string, o *bolt.Options) (*bolt.DB, error) {
	f, err := createFreshIn(dir, path, os.O_RDWR)
	if err != nil {
		return nil, err
	}
	return bolt.Open(path, 0o600, boltOptsOn(f, o))
}

// lockOwnCopyIn locks (exclusively) this command's own copy at path's
// last name in dir, opened by openOwnCopyIn, waiting up to wait: the
// lock a copy takes before it is renamed over the database (lockFile,
// which opens by path).
func lockOwnCopyIn(dir *os.File, path string, wait time.Duration) (unlock func(), err error) {
	f, err := openOwnCopyIn(dir, path)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(wait)
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) || time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// removeIn removes path's last name (a file, not followed) from dir.
func removeIn(dir *os.File, path string) {
	if dir == nil {
		os.Remove(path)
		return
	}
	unix.Unlinkat(int(dir.Fd()), filepath.Base(path), 0)
}

// statIn is os.Lstat of path's last name in dir.
func statIn(dir *os.File, path string) (unix.Stat_t, error) {
	var st unix.Stat_t
	if dir == nil {
		return st, unix.Lstat(path, &st)
	}
	return st, unix.Fstatat(int(dir.Fd()), filepath.Base(path), &st, unix.AT_SYMLINK_NOFOLLOW)
}

// heldPath is a path that reaches path's last name through dir's
// descriptor — on Linux /proc/self/fd/N/NAME, which resolves to the open
// directory itself whatever its name leads to now — for the reads that
// take a path (VerifyBackup and the page checks under it). Where /proc
// does not show the directory it is path itself. Not for messages: the
// operator knows path (heldText).
func heldPath(dir *os.File, path string) string {
	p := fmt.Sprintf("/proc/self/fd/%d", dir.Fd())
	var a, b unix.Stat_t
	if unix.Stat(p, &a) == nil && unix.Fstat(int(dir.Fd()), &b) == nil && a.Dev == b.Dev && a.Ino == b.Ino {
		return filepath.Join(p, filepath.Base(path))
	}
	return path
}

// heldError is an error of a read through heldPath, its text written
// with path's directory (heldText), what it wraps kept for errors.Is.
type heldError struct {
	text string
	err  error
}

func (e *heldError) Error() string { return e.text }
func (e *heldError) Unwrap() error { return e.err }

// heldText is text with heldPath's directory written as path's.
func heldText(dir *os.File, path, text string) string {
	return strings.ReplaceAll(text, filepath.Dir(heldPath(dir, path)), filepath.Dir(path))
}

// heldNamed is an error whose text names a file by the path the
// operator knows rather than heldPath's (heldText), keeping the error it
// wraps for errors.Is and errors.As.
type heldNamed struct {
	text string
	err  error
}

func (e *heldNamed) Error() string { return e.text }
func (e *heldNamed) Unwrap() error { return e.err }
