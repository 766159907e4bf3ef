package queue

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A spool file the store cannot remove after the commit that dropped its
// last reference is not forgotten: the failure is logged (WARN, the
// file's name) and counted, and the scheduler retries it every minute
// until it is gone; the gauges count the directory.
func TestSpoolUnlinkFailureLoggedCountedRetried(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var logs lockedBuf
	s.SetSpoolLogger(slog.New(slog.NewTextHandler(&logs, nil)))
	var mu sync.Mutex
	refuse := true
	s.spoolStats.mu.Lock()
	s.spoolStats.remove = func(p string) error {
		mu.Lock()
		defer mu.Unlock()
		if refuse {
			return &os.PathError{Op: "remove", Path: p, Err: errors.New("operation not permitted")}
		}
		return os.Remove(p)
	}
	s.spoolStats.mu.Unlock()

	b := spooled(t, s, bigContent(300<<10))
	path, _, _ := b.File()
	if files, bytes := s.SpoolUsage(); files != 1 || bytes < 300<<10 {
		t.Fatalf("spool usage %d files %d bytes", files, bytes)
	}
	m := msg(s, "a@example.org", "b@example.test")
	m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
	ctx := context.Background()
	if err := s.Update(ctx, func(tx *Tx) error { return tx.PutNewBody(m, b) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(tx *Tx) error { return tx.Delete(m.ID) }); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the refused removal: %v", err)
	}
	if s.SpoolUnlinkFailures() != 1 || s.SpoolUnlinkPending() != 1 {
		t.Fatalf("failures %d pending %d, want 1 and 1", s.SpoolUnlinkFailures(), s.SpoolUnlinkPending())
	}
	if l := logs.String(); !strings.Contains(l, "level=WARN") || !strings.Contains(l, filepath.Base(path)) {
		t.Fatalf("no WARN naming the file: %q", l)
	}
	// Still refused: counted again, kept.
	s.RetrySpoolUnlinks()
	if s.SpoolUnlinkFailures() != 2 || s.SpoolUnlinkPending() != 1 {
		t.Fatalf("after a failed retry: failures %d pending %d", s.SpoolUnlinkFailures(), s.SpoolUnlinkPending())
	}
	// The scheduler's loop retries it once a minute has passed.
	mu.Lock()
	refuse = false
	mu.Unlock()
	clk := clock.NewFake(time.Now())
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	qctx, cancel := context.WithCancel(ctx)
	defer func() { cancel(); q.Wait() }()
	q.Start(qctx)
	for deadline := time.Now().Add(10 * time.Second); ; { // a bound on the test
		if _, err := os.Stat(path); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the scheduler never retried the removal")
		}
		clk.Advance(time.Minute)
		q.Kick()
		time.Sleep(5 * time.Millisecond)
	}
	for deadline := time.Now().Add(10 * time.Second); s.SpoolUnlinkPending() != 0; {
		if time.Now().After(deadline) {
			t.Fatalf("pending %d after the removal", s.SpoolUnlinkPending())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A retry never removes a file a record names again.
func TestSpoolUnlinkRetryKeepsNamedFile(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b := spooled(t, s, bigContent(100<<10))
	path, _, _ := b.File()
	m := msg(s, "a@example.org", "b@example.test")
	m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNewBody(m, b) }); err != nil {
		t.Fatal(err)
	}
	s.spoolStats.mu.Lock()
	s.spoolStats.pending = map[string]bool{filepath.Base(path): true}
	s.spoolStats.mu.Unlock()
	s.RetrySpoolUnlinks()
	if _, err := os.Stat(path); err != nil || s.SpoolUnlinkPending() != 0 {
		t.Fatalf("a named file on retry: %v, pending %d", err, s.SpoolUnlinkPending())
	}
}
