package queue

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// rt42 F2: the space reserve is given up only for a commit that frees
// room or keeps mail (UpdateFreeing), and that commit is tried once more
// then; a plain commit (new mail, a copy on receipt) meets the full disk
// with the reserve whole. Here the disk is full while the reserve file
// is there (the commit fault reads it), as on a file system the reserve
// keeps room on. With room again the reserve is made again.
func TestSpaceReserveGivenUpOnlyForFreeingCommits(t *testing.T) {
	s := openTest(t)
	s.StartSpaceReserve(64<<10, nil)
	path := filepath.Join(filepath.Dir(s.db.Path()), SpaceReserveName)
	if fi, err := os.Stat(path); err != nil || fi.Size() != 64<<10 {
		t.Fatalf("the reserve at the start: %v %v, want a file of 64 KiB", fi, err)
	}
	s.setCommitFault(func(*Tx) error {
		if _, err := os.Stat(path); err == nil {
			return &os.PathError{Op: "write", Path: s.db.Path(), Err: syscall.ENOSPC}
		}
		return nil
	})
	m := msg(s, "a@example.org", "b@example.net")
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("a plain commit on the full disk: %v, want ENOSPC", err)
	}
	if held, _ := s.SpaceReserveHeld(); !held || s.SpaceReserveUsed() != 0 {
		t.Fatalf("a plain commit used the reserve (held %v, used %d)", held, s.SpaceReserveUsed())
	}
	if err := s.UpdateFreeing(context.Background(), "a test's takeover", func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
		t.Fatalf("a freeing commit on the full disk: %v, want it through the reserve", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) || s.SpaceReserveUsed() != 1 {
		t.Fatalf("after the freeing commit: the file %v, used %d; want it gone, used once", err, s.SpaceReserveUsed())
	}
	// Gone already: a second freeing commit that fails fails as before.
	s.setCommitFault(func(*Tx) error { return &os.PathError{Op: "write", Path: s.db.Path(), Err: syscall.ENOSPC} })
	if err := s.UpdateFreeing(context.Background(), "another", func(*Tx) error { return nil }); !errors.Is(err, syscall.ENOSPC) || s.SpaceReserveUsed() != 1 {
		t.Fatalf("a freeing commit with no reserve left: %v, used %d", err, s.SpaceReserveUsed())
	}
	s.setCommitFault(nil)
	s.RestoreSpaceReserve() // the temporary directory has room
	if held, size := s.SpaceReserveHeld(); !held || size != 64<<10 {
		t.Fatalf("the reserve was not made again with room (held %v, %d bytes)", held, size)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != 64<<10 {
		t.Fatalf("the reserve made again: %v %v", fi, err)
	}
}

// A reserve that cannot be made again while the file system has room (a
// directory in its place here; EACCES or EROFS in life) is tried every
// ten seconds: its WARN comes once, then at most once a minute with the
// count of tries left out, not at every try.
func TestSpaceReserveRemakeFailureWarnedPaced(t *testing.T) {
	dir := t.TempDir()
	var logged bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logged, nil))
	r := newSpaceReserve(dir, 64<<10, log)
	if !r.held {
		t.Fatal("the reserve was not made at the start")
	}
	// Given up, then something that is no file takes its name.
	if !r.release("a test", syscall.ENOSPC) {
		t.Fatal("the reserve was not given up")
	}
	if err := os.MkdirAll(filepath.Join(r.path, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	logged.Reset()
	for range 30 {
		r.restore()
	}
	if n := strings.Count(logged.String(), "could not be made again"); n != 1 {
		t.Fatalf("%d WARN lines for 30 failed tries, want 1:\n%s", n, logged.String())
	}
}
