package queue

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/orgid"
)

// IN/MIN and OUT/MIN of a shadow queue count the copies' recipients as
// they enter and leave it (Q-2; README: recipients that entered and
// left the queue in the last 60 s): a copy kept is an IN at its arrival;
// a discard is an OUT; a takeover leaves a copy in its shadow queue
// until a route takes it (SR-6), so a deferred attempt of it is no OUT
// of the shadow queue and no IN of the route's queue (fixd19: five
// copies just kept showed IN/MIN 0, and six taken over and deferred
// OUT/MIN 6 with all six still queued).
func TestShadowQueueRates(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var attempts atomic.Int64
	q := NewManager(s, DelivererFunc(func(_ context.Context, m *Message, _ []byte, rcpts []int) []Result {
		var out []Result
		for _, i := range rcpts {
			out = append(out, Result{Rcpt: i, Outcome: Deferred, Queue: "mx:b.example", NextHop: "mx.b.example", Reply: "451 4.4.1 connection refused"})
		}
		attempts.Add(1)
		return out
	}), ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	const name = "shadow:hub-b"
	var orgIDs []string
	for i := range 5 {
		c := msg(s, "b@example.org", "y@b.example")
		if i == 0 {
			c.Rcpts = append(c.Rcpts, Recipient{Addr: "z@b.example"}) // two recipients: two INs
		}
		c.OrgID = orgid.New()
		orgIDs = append(orgIDs, c.OrgID)
		if stored, err := q.SubmitShadowCopy(ctx, c, []byte(body), "hub-b", "127.0.0.2:25", "db1"); err != nil || !stored {
			t.Fatalf("copy %d: stored %v, %v", i, stored, err)
		}
		clk.Advance(2 * time.Second)
	}
	rates := func() map[string][2]int {
		qs, err := q.Queues()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string][2]int{}
		for _, qi := range qs {
			out[qi.Name] = [2]int{qi.IncomingRate, qi.OutgoingRate}
		}
		return out
	}
	if got := rates()[name]; got != [2]int{6, 0} {
		t.Fatalf("%s after 5 copies (6 recipients) kept: in/out %v; want [6 0]", name, got)
	}
	if n, err := q.ApplyDiscards("hub-b", orgIDs[:1]); err != nil || n != 1 {
		t.Fatalf("discard: %d, %v", n, err)
	}
	if got := rates()[name]; got != [2]int{6, 2} {
		t.Fatalf("%s after the discard of the copy of 2 recipients: in/out %v; want [6 2]", name, got)
	}
	if n, err := q.Takeover("hub-b", "test"); err != nil || n != 4 {
		t.Fatalf("takeover: %d, %v", n, err)
	}
	waitFor(t, "the taken-over copies attempted", func() bool { return attempts.Load() >= 4 })
	waitFor(t, "their results committed", func() bool {
		qs, _ := q.Queues()
		for _, qi := range qs {
			if qi.Name == name && qi.ByState["retry"] == 4 {
				return true
			}
		}
		return false
	})
	got := rates()
	if got[name] != [2]int{6, 2} || got["mx:b.example"] != [2]int{} {
		t.Fatalf("after the takeover and a deferred attempt: %s in/out %v, mx:b.example %v; want [6 2] and none (the copies wait in %s)", name, got[name], got["mx:b.example"], name)
	}
	// The primary's discard of a taken-over copy still waiting there
	// settles it: it leaves the shadow queue.
	if n, err := q.ApplyDiscards("hub-b", orgIDs[1:2]); err != nil || n != 1 {
		t.Fatalf("discard after the takeover: %d, %v", n, err)
	}
	if got := rates()[name]; got != [2]int{6, 3} {
		t.Fatalf("%s after the discard of a taken-over copy: in/out %v; want [6 3]", name, got)
	}
}
