package queue

import (
	"context"
	"errors"
	"testing"
	"time"

	"umbra/internal/clock"
)

// retryKept counts the next attempts an operator's retry replaced that
// the manager still keeps in memory (keepRetryNext).
func retryKept(q *Manager) int {
	n := 0
	q.retryNext.Range(func(_, _ any) bool { n++; return true })
	return n
}

// Q-4 (retry): the next attempt an operator's retry replaced is kept in
// memory until the attempt the retry made due ends (finish) — and no
// longer than the message: a message retried and then removed before
// that attempt (message retry, then message remove; queue retry, then
// a removal of the queue's messages) leaves nothing behind. The entry
// was forgotten only at an attempt's end: every message removed (or
// expired, discarded, handed back) between a retry and its attempt
// stayed in memory until a restart.
func TestQ4RetryTimeForgottenWithTheMessage(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	// Not started: no attempt runs, nothing ends an attempt's wait but
	// the operator's removal.
	q := NewManager(s, nil, ManagerConfig{Clock: clk, Hostname: "mx.test", RetrySchedule: []time.Duration{time.Hour}})
	ctx := context.Background()
	const n = 20
	var ids []ID
	if err := s.Update(ctx, func(tx *Tx) error {
		for range n {
			m := txMsg(tx, "a@example.org", "x@r.test")
			m.State, m.NextAttempt, m.Attempts = Ready, clk.Now().Add(time.Hour), 1
			m.Rcpts[0].Queue, m.Rcpts[0].LastReply = "mx:r.test", "451 4.3.0 try again later"
			if err := tx.PutNew(m, []byte(body)); err != nil {
				return err
			}
			ids = append(ids, m.ID)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := q.RetryMessage(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := q.RetryQueue(ctx, "mx:r.test"); err != nil {
		t.Fatal(err)
	}
	if got := retryKept(q); got != n {
		t.Fatalf("%d next attempts kept after the retries, want %d", got, n)
	}
	for _, id := range ids {
		if err := q.RemoveMessage(ctx, id, false); err != nil {
			t.Fatal(err)
		}
	}
	if got := retryKept(q); got != 0 {
		t.Errorf("%d next attempts of removed messages still kept in memory, want none", got)
	}
}

// Q-4 (retry): whatever deletes the record — not only the operator's
// removal: an expiry, a discard by the primary, a hand-back — forgets
// the next attempt a retry replaced, in the commit's wake (Tx.Delete);
// a commit that fails forgets nothing.
func TestQ4RetryTimeForgottenByAnyDeletion(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, nil, ManagerConfig{Clock: clk, Hostname: "mx.test"})
	ctx := context.Background()
	m := msg(s, "a@example.org", "x@r.test")
	m.State, m.NextAttempt = Ready, clk.Now().Add(time.Hour)
	if err := s.Update(ctx, func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	q.keepRetryNext(m, clk.Now())
	failed := Refused(errors.New("rolled back"))
	if err := s.Update(ctx, func(tx *Tx) error {
		if err := tx.Delete(m.ID); err != nil {
			return err
		}
		return failed
	}); !errors.Is(err, failed) {
		t.Fatalf("the failing commit: %v", err)
	}
	if got := retryKept(q); got != 1 {
		t.Fatalf("%d next attempts kept after a deletion that was rolled back, want 1", got)
	}
	if err := s.Update(ctx, func(tx *Tx) error { return tx.Delete(m.ID) }); err != nil {
		t.Fatal(err)
	}
	if got := retryKept(q); got != 0 {
		t.Errorf("%d next attempts kept after the record was deleted, want none", got)
	}
}
