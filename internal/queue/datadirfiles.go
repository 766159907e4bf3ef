package queue

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	bolt "go.etcd.io/bbolt"
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
