package queue

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// errLog records the error every commit reports to the Observer.
type errLog struct {
	mu   sync.Mutex
	errs []error
}

func (l *errLog) Commit(_ time.Duration, _ int, err error) {
	l.mu.Lock()
	l.errs = append(l.errs, err)
	l.mu.Unlock()
}

func (l *errLog) failed() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, err := range l.errs {
		if err != nil {
			n++
		}
	}
	return n
}

// A refusal decided inside a transaction (an operator's action that does
// not apply, an unknown id, an error a function marks with Refused)
// is no failed commit: the Observer's error — the metric "Failed
// transport database commits" — means trouble with the database, the
// disk or the code only (rt18c-F2). Trouble still counts: a function
// that panics, and bbolt refusing a write.
func TestRefusalIsNoFailedCommit(t *testing.T) {
	log := &errLog{}
	s, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{Observer: log})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q := NewManager(s, nil, ManagerConfig{})
	ctx := context.Background()
	m := msg(s, "a@example.org", "b@example.net")
	m.State = Ready
	if err := s.Update(ctx, func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	if err := q.SuspendMessage(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	if err := q.SuspendMessage(ctx, m.ID); !errors.Is(err, ErrNotApplicable) {
		t.Fatalf("second suspend: %v", err)
	}
	if err := q.RetryMessage(ctx, m.ID); err == nil {
		t.Fatal("retry of a suspended message was not refused")
	}
	if err := q.SuspendMessage(ctx, 12345); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
	decided := errors.New("decided inside")
	if err := s.Update(ctx, func(*Tx) error { return Refused(decided) }); !errors.Is(err, decided) {
		t.Fatalf("refusing function: %v", err)
	}
	if n := log.failed(); n != 0 {
		t.Fatalf("%d refusals counted as failed commits", n)
	}

	// Trouble: bbolt refuses the write (an empty key), a function panics.
	if err := s.Update(ctx, func(tx *Tx) error { return tx.messages.Put(nil, []byte("x")) }); err == nil {
		t.Fatal("bbolt took an empty key")
	}
	if n := log.failed(); n != 1 {
		t.Fatalf("bbolt's refusal of a write: %d failed commits counted, want 1", n)
	}
	catchPanic(func() { s.Update(ctx, func(*Tx) error { panic("boom") }) })
	if n := log.failed(); n != 2 {
		t.Fatalf("a panicking function: %d failed commits counted, want 2", n)
	}
}

// Anything not named a refusal is trouble: an I/O error wrapped with %v
// (no longer an Errno to the caller), a body that fails its checksum, an
// error no list foresaw. When unsure, the failed-commit count goes up,
// never silent (rt18c-F2 mend).
func TestUnnamedErrorIsFailedCommit(t *testing.T) {
	log := &errLog{}
	s, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{Observer: log})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for i, e := range []error{
		fmt.Errorf("reading the spool file: %v", syscall.EIO),
		fmt.Errorf("body of 42: %w", ErrBodyChecksum),
		errors.New("an error no one listed"),
	} {
		s.Update(ctx, func(*Tx) error { return e })
		if n := log.failed(); n != i+1 {
			t.Fatalf("%q: %d failed commits counted, want %d", e, n, i+1)
		}
	}
}
