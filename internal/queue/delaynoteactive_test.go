package queue

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// Q-3, SR-6, SR-11 (shadow26 item 3): hub-a took its copy over from
// hub-b and is delivering it (the record Active here) when hub-b's
// delay note comes: hub-b sent the sender the delay DSN. The note is
// kept, not dropped for the record in delivery: the attempt then
// defers, and neither its end nor a later deferral past hub-a's own
// delay_notification makes a second delay DSN. One DSN, never two.
func TestDelayNoteForCopyInDeliveryKept(t *testing.T) {
	r := newDelayNoteRig(t)
	clk, p, sS := r.clk, r.p, r.sS
	var taken atomic.Bool // hub-a's attempts after the takeover: block, then defer
	started := make(chan struct{}, 4)
	release := make(chan struct{})
	r.startHubA(t, DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		if !taken.Load() {
			return p.relay(t, ctx, m, rcpts, "hub-b")
		}
		started <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
		}
		return deferredNoRoute(rcpts)
	}))
	qS := r.qS
	mid := r.submitCopies(t, 1, "b@c.example")[0]
	got, _ := qS.Message(mid)
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
	if got, _ := qS.Message(mid); got.State != Active {
		t.Fatalf("the taken-over copy is %v, want Active (in delivery)", got.State)
	}
	r.primaryDelayDSNs(t, 1)
	if lines := p.fetchDelayed(t, qS); !slices.Equal(lines, []string{sid + " DELAYED"}) {
		t.Fatalf("notifications: %q, want the delay note of the copy", lines)
	}
	close(release)
	waitFor(t, "hub-a's attempt to defer", func() bool {
		got, err := qS.Message(mid)
		return err == nil && got.State == Ready
	})
	got, _ = qS.Message(mid)
	if !got.DelayNotified {
		t.Errorf("the copy after its attempt: DelayNotified false, want true (hub-b's note came while it was in delivery)")
	}
	n := got.Attempts
	clk.Advance(3 * time.Hour) // 5 h: past hub-a's own delay_notification
	qS.Kick()
	waitFor(t, "hub-a's attempt after its delay_notification", func() bool {
		got, err := qS.Message(mid)
		return err == nil && got.State == Ready && got.Attempts > n
	})
	for _, dm := range messages(t, sS) {
		if dm.OwnDSN() {
			t.Fatalf("hub-a made delay DSN %s: hub-b told the sender already (its note came while hub-a's attempt ran)", dm.ID)
		}
	}
}
