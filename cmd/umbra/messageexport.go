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
//
// place (nil: none) judges out's directory as the export holds it
// (checkWritePlaceHeld): by its device and inode, not by out's path.
func exportEML(c *admin.Client, id, out string, stdout io.Writer, place func(dir *os.File) error) error {
	var ae *admin.APIError
	err := exportEMLTo(c, id, out, stdout, place)
	if err != nil && !errors.As(err, &ae) && !errors.As(err, new(*exitError)) {
		// Refused here (no such directory, no room): the text names
		// the file as given, once (shownErr); the daemon's answer
		// comes escaped already.
		err = shownErr(err, out)
	}
	return err
}

func exportEMLTo(c *admin.Client, id, out string, stdout io.Writer, place func(dir *os.File) error) error {
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
	// writer's pid in the name is for the operator's eyes. The
	// directory is opened once and held (queue.CreateTempIn): the
	// cleanup, the copy, its link and its removal go through that
	// descriptor, never through a path that may lead elsewhere by the
	// time the daemon has sent the message, and the place is judged
	// on it (place: not inside the spool, a Maildir tree or the pickup
	// directory, by device and inode).
	if out == "" {
		place = nil // the temporary directory: only the copy is written there
	}
	t, err := queue.CreateTempIn(dir, queue.TempInOptions{Prefix: ".umbra-export-", Suffix: ".eml", Place: place})
	if errors.Is(err, queue.ErrDirReplaced) {
		return &exitError{code: exitFailure, err: replacedErr(out, dir)}
	}
	if errors.As(err, new(*exitError)) {
		return err // place's refusal, worded
	}
	if err != nil {
		return given(err)
	}
	for _, p := range t.Stale.Removed {
		fmt.Fprintf(os.Stderr, "message export: removed %s, the copy of an export that was killed\n", shown(p.Path))
	}
	if t.Stale.Unlisted != nil && out != "" {
		fmt.Fprintf(os.Stderr, "message export: %s\n", unlistedNote(dir, ".umbra-export-L….eml", "export"))
	}
	defer t.Close() // the copy's name goes before its lock, unless linked
	if err := c.Export(id, givenWriter{t.File, given}); err != nil {
		return apiErr(err)
	}
	if out != "" {
		if err := t.Sync(); err != nil {
			return given(err)
		}
		// Link, not rename: a file that appeared at out meanwhile is
		// kept. Still locked: the temporary name goes before the lock.
		// A directory out's path no longer names refuses it: nothing
		// is linked where a link put at its name leads.
		if err := t.Link(filepath.Base(out)); err != nil {
			if errors.Is(err, queue.ErrDirReplaced) {
				return &exitError{code: exitFailure, err: replacedErr(out, dir)}
			}
			if errors.Is(err, os.ErrExist) {
				return &exitError{code: exitFailure, err: shownErr(fmt.Errorf("message export -o %s: the file exists; name a new file", out), out)}
			}
			return given(err)
		}
		// Its content fsync'd above: a close error loses nothing.
		return nil
	}
	if _, err := t.Seek(0, io.SeekStart); err != nil {
		return given(err)
	}
	if _, err := io.Copy(stdout, t); err != nil {
		return fmt.Errorf("writing the message: %w", err)
	}
	return nil
}

// replacedErr refuses an export whose directory was moved and replaced
// by a link or another directory while it ran.
func replacedErr(out, dir string) error {
	return shownErr(fmt.Errorf("message export -o %s: the directory %s was replaced while the export ran (moved, and a link or "+
		"another directory put at its name): nothing was written through the new name, and the message was not kept", out, dir), out)
}

// printSpool is `message show`'s line about a spooled body's file.
func printSpool(w io.Writer, s *admin.SpoolView) {
	if s == nil {
		return
	}
	// Its length only: show reads no spooled body whole (admin
	// spoolview.go); its checksum is checked when the body is read for
	// delivery, export or backup. "whole" read as intact to an operator
	// whose file had 4 bytes changed (rt45 life F4).
	state := "present, full length; its checksum is checked when it is read"
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
