package shadow

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-3 with SR-15 (rrwatch40): the step keeps a primary urgent while
// copies are held for it, but only from an urgency that had not run out
// yet. A step that came more than expediteFor after the last — the
// process stopped (SIGSTOP, a long stall) or the clock stepped forward —
// found it run out: the watch session ended and none opened again until
// the next hand-off to that primary, the discards of the copies still
// held left to the heartbeats (a kill -9 of the primary in that window
// made this server take the copies over and deliver them again). The
// start and a reload set it again (WatchHeld); a gap between two steps
// did not.
func TestWatchReopensAfterStepGapWhileCopiesHeld(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	st := &fakeStore{clk: clk, discarded: map[string][]string{}, copies: map[string]bool{"hub-b": true},
		ps: map[string]*Primary{"hub-b": {Name: "hub-b", Addr: "127.0.0.2:25", LastContact: clk.Now()}}}
	w := &fakeWatcher{fakeHB: fakeHB{db: "db1", calls: map[string]int{}, hang: map[string]bool{}}, push: make(chan []string), ended: make(chan struct{}, 10)}
	m := New(Config{Timeout: 300 * time.Second, Retries: 3, Clock: clk, Store: st, Heartbeater: w})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m.Step(ctx)
	waitUntil(t, "the watch session at the start", func() bool { return w.connections() == 1 })

	// No step for longer than expediteFor: the session sees its urgency
	// run out and ends.
	clk.Advance(expediteFor + 10*time.Second)
	select {
	case <-w.ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the watch session did not end")
	}
	waitUntil(t, "the watch task to end", func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return !m.watching["hub-b"]
	})

	// The copy is still held: the next step opens the session again.
	m.Step(ctx)
	if !m.stillUrgent("hub-b") {
		t.Fatal("hub-b is not urgent after a step gap while a copy is still held for it")
	}
	waitUntil(t, "a watch session again", func() bool { return w.connections() == 2 })
	w.push <- []string{"m1"}
	waitUntil(t, "the discard on the watch session", func() bool {
		st.mu.Lock()
		defer st.mu.Unlock()
		return len(st.discarded["hub-b"]) == 1
	})
}
