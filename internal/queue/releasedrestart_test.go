package queue

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"umbra/internal/clock"
)

// A release is remembered by the record, not by the process that made
// it: after a restart (or kill -9: the release is one fsync'd commit) a
// second release of the message — waiting for its attempt or in
// delivery at that moment — answers ErrAlreadyReleased, as it does
// within the process that released it (README, Quarantine: "An id
// release finds released before … is no failure").
func TestQuarantineReleasedBeforeRestartIsAlreadyReleased(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, newScripted(func(string, int) (Outcome, string) { return RelayedOK, "250 ok" }), ManagerConfig{Clock: clk})
	ctx := context.Background()
	m := msg(s, "a@example.org", "x@example.net")
	m.Quarantine = "milter: HOLD"
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	// Released by a manager that never starts delivery: the message
	// waits Ready when the process ends.
	if err := q.ReleaseQuarantined(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	started, finish := make(chan struct{}, 1), make(chan struct{})
	q = NewManager(s, DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		started <- struct{}{}
		<-finish
		var out []Result
		for _, i := range rcpts {
			out = append(out, Result{Rcpt: i, Outcome: RelayedOK, Queue: "mx:example.net", Reply: "250 ok"})
		}
		return out
	}), ManagerConfig{Clock: clk})
	if _, _, err := q.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	if err := q.ReleaseQuarantined(ctx, m.ID); !errors.Is(err, ErrAlreadyReleased) {
		t.Fatalf("release after a restart of a message released before it, waiting for delivery = %v, want ErrAlreadyReleased", err)
	}
	rctx, cancel := context.WithCancel(ctx)
	finished := false
	defer func() {
		if !finished {
			close(finish)
		}
		cancel()
		q.Wait()
	}()
	q.Start(rctx)
	q.Kick()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the released message was not attempted")
	}
	if err := q.ReleaseQuarantined(ctx, m.ID); !errors.Is(err, ErrAlreadyReleased) {
		t.Fatalf("release after a restart of a message released before it, in delivery = %v, want ErrAlreadyReleased", err)
	}
	close(finish)
	finished = true
	waitFor(t, "the released message to leave", func() bool { _, err := q.Message(m.ID); return errors.Is(err, ErrNotFound) })
}
