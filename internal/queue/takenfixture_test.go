package queue

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/clock"
)

// idleManager is a manager over a fresh store with a fake clock, not
// started, whose deliverer delivers nothing.
func idleManager(t *testing.T) (*Manager, *Store, *clock.Fake) {
	t.Helper()
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	return q, s, clk
}

// takenReceiptCopies stores n copies on receipt from hub-a (database
// dbA), each for rcpts, then fails hub-a's heartbeats three times: the
// copies are taken over, each held by this server only.
func takenReceiptCopies(t *testing.T, q *Manager, s *Store, clk *clock.Fake, n int, rcpts ...string) []*Message {
	t.Helper()
	var ms []*Message
	for i := 0; i < n; i++ {
		m := receiptCopy(s, rcpts...)
		if _, err := q.SubmitShadowCopy(context.Background(), m, []byte(body), "hub-a", "127.0.0.1:25", "dbA"); err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	for i := 0; i < 3; i++ {
		if _, _, err := q.ShadowHeartbeatFailed("hub-a", clk.Now(), 0, 3, "timeout"); err != nil {
			t.Fatal(err)
		}
	}
	return ms
}

// takenCopyRunning stores a copy on receipt from hub-a (database dbA,
// organisation id org) from s@example.org to rcpts, fails hub-a's
// heartbeats three times so that it is taken over, and only then starts
// qS (cfg on clk), stopped when the test ends. Its attempts defer (451
// 4.4.1 down) until the start; from then on after answers each
// recipient.
func takenCopyRunning(t *testing.T, clk *clock.Fake, cfg ManagerConfig, org string, after func(m *Message, i int) Result, rcpts ...string) (qS *Manager, sS *Store, c *Message) {
	t.Helper()
	ctx := context.Background()
	sS = openTest(t)
	var on atomic.Bool
	dS := DelivererFunc(func(_ context.Context, m *Message, _ []byte, rc []int) []Result {
		var out []Result
		for _, i := range rc {
			if !on.Load() {
				out = append(out, Result{Rcpt: i, Outcome: Deferred, Queue: "site:b", Reply: "451 4.4.1 down"})
				continue
			}
			out = append(out, after(m, i))
		}
		return out
	})
	cfg.Clock = clk
	qS = NewManager(sS, dS, cfg)
	c = msg(sS, "s@example.org", rcpts...)
	c.OrgID, c.Arrived = org, clk.Now()
	if stored, err := qS.SubmitShadowCopy(ctx, c, []byte(body), "hub-a", "127.0.0.1:25", "dbA"); err != nil || !stored {
		t.Fatalf("copy on receipt: %v, %v", stored, err)
	}
	heartbeatsFail(t, qS, clk, "hub-a")
	on.Store(true)
	runCtx, cancel := context.WithCancel(ctx)
	t.Cleanup(func() { cancel(); qS.Wait() })
	qS.Start(runCtx)
	return qS, sS, c
}

// heartbeatsFail fails the heartbeats of primary three times, its retry
// count: its copies here are taken over.
func heartbeatsFail(t *testing.T, q *Manager, clk *clock.Fake, primary string) {
	t.Helper()
	for i := 0; i < 3; i++ {
		if _, _, err := q.ShadowHeartbeatFailed(primary, clk.Now(), 0, 3, "timeout"); err != nil {
			t.Fatal(err)
		}
	}
}

// setState writes st into the record of id, as an attempt's claim (or
// its end) does.
func setState(t *testing.T, s *Store, id ID, st State) {
	t.Helper()
	if err := s.Update(context.Background(), func(tx *Tx) error {
		o, err := tx.Get(id)
		if err != nil {
			return err
		}
		o.State = st
		return tx.Put(o)
	}); err != nil {
		t.Fatal(err)
	}
}
