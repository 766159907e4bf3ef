package shadow

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-3 with SR-15 (watch40 item 1): the urgency that keeps a watch
// session open to a primary is memory, set at a hand-off. Copies held
// when this server (re)starts — the primary still owing their discards
// — get a watch session at the first step, not only at the next
// hand-off to that primary: without it the discard waited for the next
// heartbeat, and a kill -9 of the primary in between made this server
// take the copy over and deliver it again. A primary whose copies were
// taken over gets none (its heartbeats go on).
func TestWatchOpensAtStartForCopiesHeld(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	st := &fakeStore{clk: clk, discarded: map[string][]string{}, copies: map[string]bool{"hub-b": true, "hub-c": true},
		ps: map[string]*Primary{
			// A contact just before the restart: no heartbeat due; no
			// urgency survived it.
			"hub-b": {Name: "hub-b", Addr: "127.0.0.2:25", LastContact: clk.Now()},
			"hub-c": {Name: "hub-c", Addr: "127.0.0.3:25", LastContact: clk.Now(), TakenOver: true},
		}}
	w := &fakeWatcher{fakeHB: fakeHB{db: "db1", calls: map[string]int{}, hang: map[string]bool{}}, push: make(chan []string), ended: make(chan struct{}, 10)}
	m := New(Config{Timeout: 300 * time.Second, Retries: 3, Clock: clk, Store: st, Heartbeater: w})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m.Step(ctx) // the scheduler's first step after the start
	waitUntil(t, "a watch session to the primary copies are held for", func() bool { return w.connections() == 1 })
	w.push <- []string{"m1"}
	waitUntil(t, "the discard on the watch session", func() bool {
		st.mu.Lock()
		defer st.mu.Unlock()
		return len(st.discarded["hub-b"]) == 1
	})
	for i := 0; i < 3; i++ { // held for minutes: the session stays
		clk.Advance(50 * time.Second)
		m.Step(ctx)
		if !m.stillUrgent("hub-b") {
			t.Fatalf("the watch session ends %v after the start while a copy is still held", time.Duration(i+1)*50*time.Second)
		}
	}
	if n := w.connections(); n != 1 {
		t.Fatalf("%d watch connections, want 1 (to hub-b only: hub-c's copies were taken over)", n)
	}
	if m.stillUrgent("hub-c") {
		t.Fatal("a watch session for a primary whose copies were taken over")
	}
	if n := w.n("hub-b"); n != 0 {
		t.Fatalf("%d heartbeats to hub-b, want none (its contact was recent)", n)
	}
}
