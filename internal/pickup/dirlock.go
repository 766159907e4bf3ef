package pickup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// LockName is the file in the pickup directory that the server using it
// holds locked (Lock).
const LockName = ".umbra-pickup.lock"

// Lock takes the pickup directory for this process: an exclusive lock on
// its LockName file, held until release (or the process's end). A
// directory is one server's: two servers sharing one would each submit
// the other's files, and take the other's NAME.<id>.queued files, whose
// messages their databases do not hold, for files to submit again.
func Lock(dir string) (release func(), err error) {
	path := filepath.Join(dir, LockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("another running server uses this pickup directory (%s is locked): a pickup directory is one server's — give each server its own", LockName)
		}
		return nil, fmt.Errorf("locking %s: %w", LockName, err)
	}
	return func() { f.Close() }, nil
}
