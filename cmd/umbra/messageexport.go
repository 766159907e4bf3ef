package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"umbra/internal/admin"
	"umbra/internal/queue"
)

// exportEML writes message id's content to the file out, or to stdout
// when out is "", never partly: the content goes to a temporary file
// first (next to out, so the rename is atomic; else in the temporary
// directory) and reaches its destination only once the daemon sent it
// whole (admin.Client.Export checks the length and the daemon's error
// trailer). On failure the temporary file is removed, nothing is written
// to stdout or out, and the command exits non-zero with the reason (a
// spool file missing or cut short, the daemon gone).
func exportEML(c *admin.Client, id, out string, stdout io.Writer) error {
	var ae *admin.APIError
	err := exportEMLTo(c, id, out, stdout)
	if err != nil && !errors.As(err, &ae) && !errors.As(err, new(*exitError)) {
		// Refused here (no such directory, no room): the text names
		// the file as given, once (shownErr); the daemon's answer
		// comes escaped already.
		err = shownErr(err, out)
	}
	return err
}

func exportEMLTo(c *admin.Client, id, out string, stdout io.Writer) error {
	dir := os.TempDir()
	if out != "" {
		dir = filepath.Dir(out)
		// An existing file is never replaced, as a backup's or a DKIM
		// key's: -o naming the configuration or queue.db by a slip
		// would put the message in its place.
		if _, err := os.Lstat(out); err == nil {
			return &exitError{code: exitFailure, err: shownErr(fmt.Errorf("message export -o %s: the file exists; name a new file", out), out)}
		}
	}
	// Errors of the temporary file beside out name out, as given
	// (queue.GivenFileError): the temporary name is no file the
	// operator knows, and none is left.
	given := func(err error) error {
		if out == "" {
			return fmt.Errorf("message export: a temporary copy in %s: %w", dir, err)
		}
		return queue.GivenFileError("message export -o", out, err)
	}
	// A copy a killed export left is a message body in a hidden file:
	// removed here and said; one a running export writes is never
	// touched, in whatever pid namespace it runs: its writer holds a
	// lock on it (queue.CreateTemp) until it is linked or removed. The
	// writer's pid in the name is for the operator's eyes.
	for _, p := range queue.RemoveStaleTemps(dir, ".umbra-export-", ".eml").Removed {
		fmt.Fprintf(os.Stderr, "message export: removed %s, the copy of an export that was killed\n", shown(p.Path))
	}
	tmp, err := queue.CreateTemp(dir, queue.MarkedTemp(".umbra-export-")+"*.eml")
	if err != nil {
		return given(err)
	}
	done := false
	defer func() {
		if !done {
			os.Remove(tmp.Name()) // before its lock goes
			tmp.Close()
		}
	}()
	if err := c.Export(id, givenWriter{tmp, given}); err != nil {
		return apiErr(err)
	}
	if out != "" {
		if err := tmp.Sync(); err != nil {
			return given(err)
		}
		// Link, not rename: a file that appeared at out meanwhile is
		// kept. Still locked: the temporary name goes before the lock.
		if err := os.Link(tmp.Name(), out); err != nil {
			if errors.Is(err, os.ErrExist) {
				return &exitError{code: exitFailure, err: shownErr(fmt.Errorf("message export -o %s: the file exists; name a new file", out), out)}
			}
			return given(err)
		}
		os.Remove(tmp.Name())
		done = true
		tmp.Close() // its content fsync'd above: a close error loses nothing
		return nil
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return given(err)
	}
	if _, err := io.Copy(stdout, tmp); err != nil {
		return fmt.Errorf("writing the message: %w", err)
	}
	return nil
}

// printSpool is `message show`'s line about a spooled body's file.
func printSpool(w io.Writer, s *admin.SpoolView) {
	if s == nil {
		return
	}
	state := "present, whole"
	if s.Problem != "" {
		state = "DAMAGED: " + s.Problem
	}
	fmt.Fprintf(w, "spool file: %s (%d bytes from offset %d; %s)\n", s.File, s.Length, s.Offset, state)
}

// givenWriter writes to the temporary file of an export, its errors
// (no room) naming the file given instead (exportEMLTo's given).
type givenWriter struct {
	f     *os.File
	given func(error) error
}

func (w givenWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	if err != nil {
		err = w.given(err)
	}
	return n, err
}
