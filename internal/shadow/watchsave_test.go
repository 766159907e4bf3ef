package shadow

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-9, SR-16 (shadow28 item 3): a watch session that ends because this
// server's store failed to save what the primary sent (SaveError: a
// local disk error) says nothing of the primary — it answered. Before,
// it was reported as the primary's failure: the scheduler counted it in
// the destination's failures in a row and the views showed the primary
// unreachable ("watch session failed: saving what the primary sent: …").
func TestWatchSaveErrorIsNoFailureOfThePrimary(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	st := &fakeStore{clk: clk, discarded: map[string][]string{}, copies: map[string]bool{"hub-b": true},
		ps: map[string]*Primary{"hub-b": {Name: "hub-b", Addr: "127.0.0.2:25", LastContact: clk.Now()}}}
	w := &fakeWatcher{fakeHB: fakeHB{db: "db1", calls: map[string]int{}, hang: map[string]bool{}}, push: make(chan []string), ended: make(chan struct{}, 10),
		failing: true, failErr: &SaveError{errors.New("write queue.db: no space left on device")}}
	var wg sync.WaitGroup
	r := &failRunner{goRunner: goRunner{&wg}, failed: map[string][]string{}}
	m := New(Config{Timeout: 300 * time.Second, Retries: 3, Clock: clk, Store: st, Heartbeater: w, Runner: r})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); wg.Wait() }()
	m.mu.Lock()
	m.runCtx = ctx
	m.mu.Unlock()
	m.Expedite("hub-b")
	for i := 1; i <= 3; i++ {
		waitUntil(t, "the retry timer", func() bool { return clk.Pending() >= 1 && w.connections() == i })
		clk.Advance(watchPauseMax) // the fault's pause grows (watchPause)
	}
	if n := r.count(WatchDest + "hub-b"); n != 0 {
		t.Fatalf("%d watch failures reported to the scheduler for this server's own store failing; want none", n)
	}
	if ps := m.Status(); len(ps) != 1 || ps[0].Unreachable != "" {
		t.Fatalf("status after this server's store failed: %+v; want the primary not unreachable", ps)
	}
}
