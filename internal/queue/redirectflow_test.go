package queue

import (
	"context"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// rt24 F8: queue redirect moved recipients out of a queue without counting
// them in its OUT/MIN or the redirect queue's IN/MIN, so the listing said 2
// in, 0 out and 0 left.
func TestRedirectCountsRecipientsOutAndIn(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	accept := false
	d, del := queuedDeliverer(&accept)
	q := NewManager(s, del, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Minute}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	m := msg(s, "a@example.org", "x@slow.example", "y@slow.example")
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	d.wait(t)
	waitFor(t, "deferral", func() bool { got, _ := q.Message(m.ID); return got != nil && got.State == Ready })
	rates := func(name string) (in, out int) {
		qs, err := q.Queues()
		if err != nil {
			t.Fatal(err)
		}
		for _, qi := range qs {
			if qi.Name == name {
				return qi.IncomingRate, qi.OutgoingRate
			}
		}
		return -1, -1
	}
	// Suspended, as the red team had it: the emptied queue stays listed.
	if err := q.SuspendQueue(ctx, "mx:slow.example"); err != nil {
		t.Fatal(err)
	}
	in0, out0 := rates("mx:slow.example")
	if n, err := q.RedirectQueue(ctx, "mx:slow.example", "127.0.0.9:2525"); err != nil || n != 1 {
		t.Fatalf("redirect: %d, %v", n, err)
	}
	if _, out := rates("mx:slow.example"); out != out0+2 {
		t.Errorf("mx:slow.example OUT/MIN %d after redirecting 2 recipients, want %d (IN/MIN %d)", out, out0+2, in0)
	}
	if in, _ := rates("redirect:127.0.0.9:2525"); in < 2 {
		t.Errorf("redirect:127.0.0.9:2525 IN/MIN %d, want the 2 recipients moved in", in)
	}
}

// rt26 F8: an expiry under an hour said "expired after 1m0s" for 41 s.
func TestExpiredReplyStatesTheAge(t *testing.T) {
	for age, want := range map[time.Duration]string{
		41*time.Second + 25*time.Millisecond: "expired after 41s;",
		5*24*time.Hour + 20*time.Second:      "expired after 120h0m0s;",
		90*time.Minute + 40*time.Second:      "expired after 1h31m0s;",
	} {
		if got := expiredReply("550 5.4.7", age, "451 4.4.1 x"); !strings.Contains(got, want) {
			t.Errorf("expiredReply(%v) = %q, want %q", age, got, want)
		}
	}
}
