package queue

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"umbra/internal/clock"
)

// Q-3, SR-9; the sibling of
// TestDelayNoteWhileJobHangsNotSetAsideFromWaitingShadow: the delay
// notice committed while a job hangs also writes the delay note owed to
// the holder of a copy made again while the message is in delivery
// (noticecommit.go: tx.heldCopy, heldPrefix), a notification that
// holder's XQUERYDISCARD WAIT= waits for as any. commitResults is told
// only of the record's own shadow server (discard = m.ShadowServer != ""
// && m.ShadowID != ""), and deferResults asks only whether that server
// waits: the commit is set aside while the holder waits, which is
// answered DeferLimit later (an hour here). finish and commitJob write
// that holder's partial discards and delay note under the same
// question.
func TestDelayNoteToHeldCopyNotSetAsideFromWaitingHolder(t *testing.T) {
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
	m.OrgID = "0123456789abcdef0123456789abcdef"
	m.NoCopy = true // held by this server only: marked (enteredsingle.go)
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first deferral", func() bool {
		s.Flush()
		got, _ := q.Message(m.ID)
		return got != nil && got.State == Ready && got.Attempts == 1
	})
	h.mu.Lock()
	h.hang = true
	h.mu.Unlock()
	clk.Advance(4 * time.Second) // the retry at 4 s hangs
	waitFor(t, "the retry", func() bool { h.mu.Lock(); defer h.mu.Unlock(); return h.calls == 2 })
	// Its copy is made again on hub-c while it is in delivery.
	if err := q.ShadowRecopied(m.ID, "hub-c"); err != nil {
		t.Fatal(err)
	}
	if sc, ok := q.SingleCopyOf(m.ID); !ok || sc.Held != "hub-c" {
		t.Fatalf("mark %+v, %v; want hub-c as the holder of the copy made in delivery", sc, ok)
	}
	signal := q.DiscardSignal("hub-c") // hub-c's session waits (XQUERYDISCARD WAIT=)
	clk.Advance(5 * time.Minute)       // the notice fell due at 5 s; the session hangs on
	select {
	case <-signal:
	case <-time.After(20 * time.Second):
		got, _ := q.Message(m.ID)
		t.Fatalf("the delay note for hub-c, made with the notice while the job hangs, did not reach hub-c waiting: its commit was set aside (record DelayNotified %v)", got != nil && got.DelayNotified)
	}
	lines, _ := q.DiscardsDelayed("hub-c", 100)
	t.Logf("hub-c is owed %q", lines)
}

// The same at the attempt's end (finish): the end's commit makes the
// delay notice and writes the delay note owed to hub-c, the holder of
// the copy made again while the message was in delivery; the message
// has no shadow server of its own, so the commit counts as writing no
// notification (discard || partialOwed both false) and is set aside
// while hub-c waits.
func TestEndDelayNoteToHeldCopyNotSetAsideFromWaitingHolder(t *testing.T) {
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
	released := false
	t.Cleanup(func() {
		if !released {
			close(h.gate)
		}
		cancel()
		q.Wait()
	})
	q.Start(ctx)
	m := msg(s, "sender@example.org", "w@slow.test")
	m.Arrived = t0
	m.OrgID = "0123456789abcdef0123456789abcdef"
	m.NoCopy = true
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first deferral", func() bool {
		s.Flush()
		got, _ := q.Message(m.ID)
		return got != nil && got.State == Ready && got.Attempts == 1
	})
	h.mu.Lock()
	h.hang = true
	h.mu.Unlock()
	clk.Advance(4 * time.Second) // the retry at 4 s hangs
	waitFor(t, "the retry", func() bool { h.mu.Lock(); defer h.mu.Unlock(); return h.calls == 2 })
	if err := q.ShadowRecopied(m.ID, "hub-c"); err != nil {
		t.Fatal(err)
	}
	signal := q.DiscardSignal("hub-c")
	clk.Advance(10 * time.Second) // 14 s: the notice is due (5 s), its grace (1 min) not over: the end makes it
	h.mu.Lock()
	h.hang = false
	h.mu.Unlock()
	released = true
	close(h.gate)
	select {
	case <-signal:
	case <-time.After(20 * time.Second):
		got, _ := q.Message(m.ID)
		t.Fatalf("the end's delay note for hub-c did not reach hub-c waiting: the end's commit was set aside (record %v, DelayNotified %v)", got.State, got.DelayNotified)
	}
	lines, _ := q.DiscardsDelayed("hub-c", 100)
	t.Logf("hub-c is owed %q", lines)
}
