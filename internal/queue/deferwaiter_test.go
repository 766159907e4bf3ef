package queue

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"umbra/internal/clock"
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

// SR-9, Q-3: the delay notice committed while a job of the attempt
// hangs (noticecommit.go) writes the delay note owed to the message's
// shadow server (delaynote.go), which that server's XQUERYDISCARD WAIT=
// waits for as for any notification. The commit was set aside all the
// same when that server was waiting (deferResults was not told the
// commit writes a notification for it): the waiting session was
// answered only DeferLimit later. DeferLimit is an hour here.
func TestDelayNoteWhileJobHangsNotSetAsideFromWaitingShadow(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{DeferLimit: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	h := &hangsFrom{gate: make(chan struct{})}
	q := NewManager(s, h, ManagerConfig{Hostname: "mx.test", Clock: clk,
		RetrySchedule: []time.Duration{4 * time.Second}, MessageExpiration: time.Hour,
		DelayNotification: 5 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { close(h.gate); cancel(); q.Wait() })
	q.Start(ctx)
	m := msg(s, "sender@example.org", "w@slow.test")
	m.Arrived = t0
	m.ShadowServer, m.ShadowID = "hub-b", "0123-x"
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first deferral", func() bool {
		s.Flush() // its results are set aside: nobody waits for them
		got, _ := q.Message(m.ID)
		return got != nil && got.State == Ready && got.Attempts == 1
	})
	h.mu.Lock()
	h.hang = true
	h.mu.Unlock()
	clk.Advance(4 * time.Second) // the retry at 4 s hangs
	waitFor(t, "the retry", func() bool { h.mu.Lock(); defer h.mu.Unlock(); return h.calls == 2 })
	signal := q.DiscardSignal("hub-b") // hub-b's session waits (XQUERYDISCARD WAIT=)
	clk.Advance(5 * time.Minute)       // the notice fell due at 5 s; the session hangs on
	select {
	case <-signal:
	case <-time.After(20 * time.Second):
		t.Fatal("the delay note of the notice made while the job hangs did not reach the waiting shadow server: its commit was set aside")
	}
	got, err := q.Message(m.ID)
	if err != nil || got.State != Active || !got.DelayNotified {
		t.Fatalf("the record with the notice made: %+v, %v; want Active, DelayNotified", got, err)
	}
}
