package queue

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// GivenFileError words err, met while writing path through a temporary
// file beside it (a backup, an exported message), with path, the file
// the operator gave, after op ("backup", "message export -o"): the
// temporary file's name, which err carries, means nothing to the
// operator and names no file that is left. A missing directory is said
// so; any other failure (no room, no permission) keeps its cause
// without the temporary name.
func GivenFileError(op, path string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Stat(filepath.Dir(path)); errors.Is(serr, fs.ErrNotExist) {
			return &givenFileError{fmt.Sprintf("%s %s: the directory %s does not exist", op, path, filepath.Dir(path)), err}
		}
	}
	cause := err
	var pe *fs.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &le):
		cause = le.Err
	case errors.As(err, &pe):
		cause = pe.Err
	}
	return &givenFileError{fmt.Sprintf("%s %s: %v", op, path, cause), err}
}

// givenFileError is GivenFileError's error: its text names the file
// given; it wraps the error as it came, so that a caller still tells a
// file's failure (an fs.PathError, fs.ErrNotExist) from others.
type givenFileError struct {
	msg string
	err error
}

func (e *givenFileError) Error() string { return e.msg }
func (e *givenFileError) Unwrap() error { return e.err }
