package shadow

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-3 with SR-15 (rrwatch40): a primary that comes back in the middle
// of its watch session's pause is watched again within watchPauseMax,
// whatever the heartbeat timeout. The pause grew to the heartbeat
// timeout (300 s by default) and only a contact (a heartbeat, due a
// timeout after the last try) ended it early: the discards of what the
// primary delivered once back waited that long, and a kill -9 of it in
// that window made this server take the copies over (its heartbeats
// failing on) and deliver them again.
func TestWatchToPrimaryBackMidPauseReopensWithinCap(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	st := &fakeStore{clk: clk, discarded: map[string][]string{}, copies: map[string]bool{"hub-b": true},
		ps: map[string]*Primary{"hub-b": {Name: "hub-b", Addr: "127.0.0.2:25", LastContact: clk.Now()}}}
	down := errors.New("connection refused")
	w := &fakeWatcher{fakeHB: fakeHB{db: "db1", calls: map[string]int{}, hang: map[string]bool{}, err: down}, push: make(chan []string), ended: make(chan struct{}, 10),
		failing: true}
	var wg sync.WaitGroup
	r := &failRunner{goRunner: goRunner{&wg}, failed: map[string][]string{}}
	const timeout = 300 * time.Second
	m := New(Config{Timeout: timeout, Retries: 3, Clock: clk, Store: st, Heartbeater: w, Runner: r})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); wg.Wait() }()
	m.mu.Lock()
	m.runCtx = ctx
	m.mu.Unlock()
	m.Expedite("hub-b")

	// A long outage, the steps going on (the copy is still held, its
	// heartbeats fail): the pause grows to its bound.
	for i := 0; i < 200 && w.connections() < 9; i++ {
		clk.Advance(50 * time.Second)
		m.Step(ctx)
		m.Wait()
		time.Sleep(5 * time.Millisecond)
	}
	if n := w.connections(); n < 9 {
		t.Fatalf("%d tries in a long outage", n)
	}
	// hub-b is back; no heartbeat has reached it yet.
	waitUntil(t, "the retry timer", func() bool { return clk.Pending() >= 1 })
	w.mu.Lock()
	w.failing = false
	n := w.conns
	w.mu.Unlock()
	clk.Advance(watchPauseMax)
	m.Step(ctx) // no contact: hub-b's heartbeat is not due
	waitUntil(t, "the watch session again, within watchPauseMax of hub-b's return", func() bool { return w.connections() == n+1 })
	w.push <- []string{"m1"}
	waitUntil(t, "the discard on the watch session", func() bool {
		st.mu.Lock()
		defer st.mu.Unlock()
		return len(st.discarded["hub-b"]) == 1
	})
}
