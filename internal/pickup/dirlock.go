package pickup

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Lock takes the pickup directory for this process: an exclusive lock on
// the directory itself (a read-only descriptor of it), held until
// release (or the process's end). No file in it carries the lock, so no
// removal of a file frees it. A directory is one server's: two servers
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
	return func() { unix.Close(fd) }, nil
}
