package queue

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// SR-9, Q-3 (note26, "a waiter can miss a set-aside commit"): an
// attempt's results nobody waits for are set aside for the next commit
// (result_commit_delay, Store.UpdateDeferred); a waiter that registers
// once its commit is set aside has it committed at once (WaitGone,
// DiscardSignal: Flush). One that registers between the decision to
// set the commit aside and its queueing found nothing to flush, and the
// commit, queued after, was set aside all the same: the sender in
// delayed acknowledgement, or the shadow server waiting with
// XQUERYDISCARD WAIT=, waited the whole result_commit_delay. The
// waiter registers here at that very point (deferHook). DeferLimit is
// an hour: nothing but the waiter commits the results before the
// store closes.
func TestWaiterBetweenDeferDecisionAndQueueing(t *testing.T) {
	for _, c := range []struct {
		name   string
		shadow bool
		wait   func(q *Manager, m *Message) <-chan struct{}
	}{
		{"WaitGone", false, func(q *Manager, m *Message) <-chan struct{} {
			ch, _ := q.WaitGone(m.ID)
			return ch
		}},
		{"DiscardSignal", true, func(q *Manager, m *Message) <-chan struct{} { return q.DiscardSignal("hub-b") }},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{DeferLimit: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			q := NewManager(s, DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
				var out []Result
				for _, i := range rcpts {
					out = append(out, Result{Rcpt: i, Outcome: RelayedOK, NextHop: "mx.c.example", Reply: "250 ok"})
				}
				return out
			}), ManagerConfig{RetrySchedule: []time.Duration{time.Minute}})
			m := msg(s, "s@example.org", "b@c.example")
			if c.shadow {
				m.ShadowServer, m.ShadowID = "hub-b", "0123-x"
			}
			waited := make(chan (<-chan struct{}), 1)
			hook := func(dm *Message) {
				if dm.ID == m.ID {
					select {
					case waited <- c.wait(q, dm):
					default:
					}
				}
			}
			q.deferHook.Store(&hook)
			ctx, cancel := context.WithCancel(context.Background())
			t.Cleanup(func() { cancel(); q.Wait() })
			q.Start(ctx)
			if err := q.Submit(ctx, m, []byte(body)); err != nil {
				t.Fatal(err)
			}
			var ch <-chan struct{}
			select {
			case ch = <-waited:
			case <-time.After(30 * time.Second):
				t.Fatal("the results' commit was not set aside (no waiter registered at its decision)")
			}
			select {
			case <-ch:
			case <-time.After(20 * time.Second):
				t.Errorf("%s registered between the decision to set the results' commit aside and its queueing: not woken (the commit waits result_commit_delay)", c.name)
			}
		})
	}
}
