package queue

import (
	"context"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/clock"
)

// Q-3, SR-6, SR-11 (shadow26 item 3): hub-a took its copy over from
// hub-b and is delivering it (the record Active here) when hub-b's
// delay note comes: hub-b sent the sender the delay DSN. The note is
// kept, not dropped for the record in delivery: the attempt then
// defers, and neither its end nor a later deferral past hub-a's own
// delay_notification makes a second delay DSN. One DSN, never two.
func TestDelayNoteForCopyInDeliveryKept(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	sS, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sS.Close() })
	p := newCopyPrimaryWith(t, clk, ManagerConfig{DelayNotification: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	p.q.Start(ctx)
	t.Cleanup(func() { cancel(); p.q.Wait() })
	var taken atomic.Bool // hub-a's attempts after the takeover: block, then defer
	started := make(chan struct{}, 4)
	release := make(chan struct{})
	dS := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		if !taken.Load() {
			return p.relay(t, ctx, m, rcpts, "hub-b")
		}
		started <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
		}
		var out []Result
		for _, i := range rcpts {
			out = append(out, Result{Rcpt: i, Outcome: Deferred, NextHop: "hub-b", Reply: "451 4.4.1 no route"})
		}
		return out
	})
	qS := NewManager(sS, dS, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Minute}, DelayNotification: 4 * time.Hour})
	qS.Start(ctx)
	t.Cleanup(func() { cancel(); qS.Wait() })
	m := msg(sS, "s@example.org", "b@c.example")
	m.Arrived = clk.Now()
	if err := qS.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "hub-a's copy", func() bool {
		got, err := qS.Message(m.ID)
		return err == nil && got.State == Shadow
	})
	got, _ := qS.Message(m.ID)
	sid := got.Rcpts[0].ShadowID
	taken.Store(true)
	if _, err := qS.Takeover("hub-b", "test"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("hub-a's attempt of the taken-over copy did not start")
	}
	if got, _ := qS.Message(m.ID); got.State != Active {
		t.Fatalf("the taken-over copy is %v, want Active (in delivery)", got.State)
	}
	clk.Advance(2 * time.Hour)
	p.q.Kick()
	waitFor(t, "hub-b's delay DSN", func() bool { return p.dsnsAt(t) == 1 })
	if lines := p.fetchDelayed(t, qS); !slices.Equal(lines, []string{sid + " DELAYED"}) {
		t.Fatalf("notifications: %q, want the delay note of the copy", lines)
	}
	close(release)
	waitFor(t, "hub-a's attempt to defer", func() bool {
		got, err := qS.Message(m.ID)
		return err == nil && got.State == Ready
	})
	got, _ = qS.Message(m.ID)
	if !got.DelayNotified {
		t.Errorf("the copy after its attempt: DelayNotified false, want true (hub-b's note came while it was in delivery)")
	}
	n := got.Attempts
	clk.Advance(3 * time.Hour) // 5 h: past hub-a's own delay_notification
	qS.Kick()
	waitFor(t, "hub-a's attempt after its delay_notification", func() bool {
		got, err := qS.Message(m.ID)
		return err == nil && got.State == Ready && got.Attempts > n
	})
	for _, dm := range messages(t, sS) {
		if dm.OwnDSN() {
			t.Fatalf("hub-a made delay DSN %s: hub-b told the sender already (its note came while hub-a's attempt ran)", dm.ID)
		}
	}
}
