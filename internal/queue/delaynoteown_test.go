package queue

import (
	"context"
	"slices"
	"testing"
	"time"
)

// Q-3, SR- (reread23 F1): hub-a relays b@ of its own message to hub-b (shadowed: hub-a
// keeps the copy) while x@, another destination, stays pending at hub-a
// itself. hub-b's delay DSN reports b@ alone; its delay note must not
// silence hub-a's own delay DSN for x@, which hub-b never held.
func TestDelayNoteKeepsHoldersOwnNotice(t *testing.T) {
	r := newDelayNoteRig(t)
	clk, p, sS, ctx := r.clk, r.p, r.sS, r.ctx
	r.startHubA(t, DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		var toB []int
		var out []Result
		for _, i := range rcpts {
			if m.Rcpts[i].Addr == "b@c.example" {
				toB = append(toB, i)
				continue
			}
			out = append(out, Result{Rcpt: i, Outcome: Deferred, NextHop: "mx.d.example", Reply: "451 4.4.1 later"})
		}
		if len(toB) > 0 {
			out = append(out, p.relay(t, ctx, m, toB, "hub-b")...)
		}
		return out
	}))
	qS := r.qS
	m := msg(sS, "s@example.org", "b@c.example", "x@d.example")
	m.Arrived = clk.Now()
	if err := qS.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "hub-a's first attempt", func() bool {
		got, err := qS.Message(m.ID)
		return err == nil && got.State == Ready && got.Rcpts[0].Status == Shadowed
	})
	got, _ := qS.Message(m.ID)
	sid := got.Rcpts[0].ShadowID
	n := got.Attempts
	clk.Advance(2 * time.Hour)
	p.q.Kick()
	qS.Kick()
	waitFor(t, "hub-b's delay DSN", func() bool { return p.dsnsAt(t) == 1 })
	waitFor(t, "hub-a's attempt at 2 h", func() bool {
		got, err := qS.Message(m.ID)
		return err == nil && got.State == Ready && got.Attempts > n
	})
	if lines := p.fetchDelayed(t, qS); !slices.Equal(lines, []string{sid + " DELAYED"}) {
		t.Fatalf("notifications: %q", lines)
	}
	got, _ = qS.Message(m.ID)
	n = got.Attempts
	t.Logf("hub-a's own record after hub-b's delay note: DelayNotified=%v rcpts=%v/%v", got.DelayNotified, got.Rcpts[0].Status, got.Rcpts[1].Status)
	clk.Advance(3 * time.Hour) // 5 h: past hub-a's delay_notification for x@
	qS.Kick()
	waitFor(t, "hub-a's attempt at 5 h", func() bool {
		got, err := qS.Message(m.ID)
		return err == nil && got.State == Ready && got.Attempts > n
	})
	for _, dm := range messages(t, sS) {
		if dm.OwnDSN() {
			return // x@'s delay DSN
		}
	}
	t.Fatal("hub-a made no delay DSN for x@d.example, pending at hub-a for 5 h: hub-b's note (for b@ alone) marked hub-a's whole record delay-notified")
}
