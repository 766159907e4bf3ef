package queue

import (
	"errors"
	"fmt"

	bolterrors "go.etcd.io/bbolt/errors"
)

// ErrInUse is a database file whose lock another process holds: a
// running umbra keeps its transport database locked for as long as it
// serves.
var ErrInUse = errors.New("in use by another process (a running umbra holds its lock)")

// inUse names a lock held elsewhere for what it is: bbolt reports it as
// a bare "timeout" after its Options.Timeout. Any other error is
// returned as it is. errors.Is finds both ErrInUse and bbolt's
// ErrTimeout in the result.
func inUse(path string, err error) error {
	if ie := (*InUseError)(nil); errors.As(err, &ie) {
		return ie // names the holder itself (openlock.go)
	}
	if errors.Is(err, bolterrors.ErrTimeout) {
		return fmt.Errorf("%s is %w (%w)", path, ErrInUse, err)
	}
	return err
}
