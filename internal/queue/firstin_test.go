package queue

import (
	"context"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// OPS-2 (rt31d F3): queue list's IN/MIN (incoming_per_minute) counts the
// recipients that entered a queue in the 60 s before, at the moment
// they did — a first attempt's too, listed in its destination's queue
// as soon as its job runs or waits there. Four messages received 3 s
// before, one in its first attempt, three waiting for the destination's
// one slot, read 0 (the count rose only at the first deferral); and the
// queue gauges said all four "active" where queue list said 1 active,
// 3 waiting: they must agree.
func TestOPSFirstAttemptCountsInAndWaitingAgree(t *testing.T) {
	s, t0, clk, o, q, ctx := startSlotWaitQueue(t)

	var ids []ID
	for k := range 4 {
		m := msg(s, "a@example.org", "w@x.example")
		m.Arrived = t0
		if k == 0 {
			o.mu.Lock()
			o.hold = m.ID // holds x.example's one slot
			o.mu.Unlock()
		}
		if err := q.Submit(ctx, m, []byte(body)); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	waitFor(t, "one running, three waiting for the slot", func() bool {
		n := 0
		for _, id := range ids[1:] {
			if q.WaitingForWindow(id) {
				n++
			}
		}
		return n == 3
	})
	clk.Advance(3 * time.Second)
	qs, err := q.Queues()
	if err != nil {
		t.Fatal(err)
	}
	var info *QueueInfo
	for i := range qs {
		if qs[i].Name == "mx:x.example" {
			info = &qs[i]
		}
	}
	if info == nil {
		t.Fatalf("mx:x.example not listed: %+v", qs)
	}
	if info.IncomingRate != 4 {
		t.Errorf("mx:x.example IN/MIN %d 3 s after its 4 recipients entered it; want 4", info.IncomingRate)
	}
	if info.ByState["active"] != 1 || info.ByState["waiting"] != 3 {
		t.Fatalf("queue list by_state %v; want 1 active, 3 waiting", info.ByState)
	}
	stats, err := s.QueueStats(q)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range stats {
		if st.Name == "mx:x.example" {
			if active := st.ByState[Active] - st.Waiting; active != 1 || st.Waiting != 3 {
				t.Errorf("queue gauges' stats: %d active, %d waiting; queue list says 1 active, 3 waiting", active, st.Waiting)
			}
		}
	}
}

// startSlotWaitQueue starts a queue manager on a new database over a
// slotWait deliverer (one slot per destination, the deliveries of
// o.hold's message held until the test ends), its clock faked at t0,
// a retry every 30 s; it is stopped when the test ends.
func startSlotWaitQueue(t *testing.T) (s *Store, t0 time.Time, clk *clock.Fake, o *slotWait, q *Manager, ctx context.Context) {
	t.Helper()
	s = openTest(t)
	t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk = clock.NewFake(t0)
	o = newSlotWait()
	q = NewManager(s, o, ManagerConfig{MaxActive: 100, Clock: clk, Hostname: "mx.test",
		RetrySchedule: []time.Duration{30 * time.Second}, MessageExpiration: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	var open sync.Once
	release := func() { open.Do(func() { close(o.gate) }) }
	t.Cleanup(func() { release(); cancel(); q.Wait() })
	q.Start(ctx)
	return s, t0, clk, o, q, ctx
}
