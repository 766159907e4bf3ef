package queue

import (
	"context"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// Q-3, OPS-2: a message retried out of unreachable whose two
// recipients go to two destinations: the job of one ran and ended (its
// result waits for the other's), the other's waits for its
// destination's one slot. message list shows the message "waiting" (no
// job of it runs); queue list and the gauges must count it waiting in
// unreachable too, not active.
func TestOPSRetriedOneJobEndedOtherWaitsCountsAsMessageList(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	o := newSlotWait()
	q := NewManager(s, o, ManagerConfig{MaxActive: 100, Clock: clk, Hostname: "mx.test",
		RetrySchedule: []time.Duration{30 * time.Second}, MessageExpiration: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	var open sync.Once
	release := func() { open.Do(func() { close(o.gate) }) }
	defer func() { release(); cancel(); q.Wait() }()
	q.Start(ctx)

	h := msg(s, "a@example.org", "w@x.example")
	h.Arrived = t0
	h.Rcpts[0].Queue = "unreachable"
	o.mu.Lock()
	o.hold = h.ID // holds x.example's one slot
	o.mu.Unlock()
	if err := q.Submit(ctx, h, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "h running", func() bool { return len(q.attemptsOn("mx:x.example")) == 1 })
	m := msg(s, "a@example.org", "v@x.example", "u@y.example")
	m.Arrived = t0
	m.Rcpts[0].Queue, m.Rcpts[1].Queue = "unreachable", "unreachable"
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "y's job done, x's waiting", func() bool {
		j := q.jobViews()[m.ID]
		return o.delivered("u@y.example") == 1 && j != nil && j.waitQueues["mx:x.example"] && !j.runQueues["mx:y.example"]
	})
	sv := q.StateView()
	shown := map[string]int{}
	for _, id := range []ID{h.ID, m.ID} {
		mm, err := q.Message(id)
		if err != nil {
			t.Fatal(err)
		}
		shown[sv.State(mm)]++
	}
	qs, err := q.Queues()
	if err != nil {
		t.Fatal(err)
	}
	for _, qi := range qs {
		if qi.Name == "unreachable" {
			t.Logf("message list: %v; queue list unreachable by_state %v", shown, qi.ByState)
			if qi.ByState["active"] != shown["active"] || qi.ByState["waiting"] != shown["waiting"] {
				t.Errorf("queue list unreachable by_state %v; message list shows %v", qi.ByState, shown)
			}
		}
	}
}
