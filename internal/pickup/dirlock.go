package pickup

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Lock takes the pickup directory for this process: an exclusive lock on
// the directory itself (a read-only descriptor of it), held until
// release (or the process's end) — no removal of a file frees it — and
// a lock on the file .umbra-pickup.lock in it, which a network file
// system's lock service sees from other hosts. A directory is one server's: two servers
// sharing one would each submit the other's files, and take the other's
// NAME.<id>.queued files, whose messages their databases do not hold,
// for files to submit again.
func Lock(dir string) (release func(), err error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	for {
		err = unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, errors.New("another running server uses this pickup directory (the directory is locked): a pickup directory is one server's — give each server its own")
		}
		return nil, fmt.Errorf("locking the pickup directory: %w", err)
	}
	// And a lock file in it, a regular file opened for writing: on a
	// network file system a directory's lock is this host's kernel's
	// only (NFS takes no flock of a directory to its server), a regular
	// file's reaches the server's lock service, so a server on another
	// host sharing the directory is refused too (there, a removed lock
	// file frees it; this host's servers stay refused by the directory).
	lf, err := unix.Open(dir+"/"+lockFileName, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "open", Path: dir + "/" + lockFileName, Err: err}
	}
	for {
		err = unix.Flock(lf, unix.LOCK_EX|unix.LOCK_NB)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		unix.Close(lf)
		unix.Close(fd)
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, errors.New("another running server uses this pickup directory (" + lockFileName + " is locked, by a server on another host sharing it): a pickup directory is one server's — give each server its own")
		}
		return nil, fmt.Errorf("locking the pickup directory's %s: %w", lockFileName, err)
	}
	return func() { unix.Close(lf); unix.Close(fd) }, nil
}

// lockFileName is the lock file Lock holds in the pickup directory (a
// dot file: never submitted).
const lockFileName = ".umbra-pickup.lock"
