package shadow

import (
	"context"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// watchingNow reports whether a watch session to name runs (or was
// started by the last step).
func watchingNow(m *Manager, name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.watching[name]
}

// SR-9, OPS- (stall41 item 3): a watch session the primary refused
// (this server's login refused: wrong credentials, or no right to the
// shadow verbs) is not opened again before a heartbeat timeout — until
// a reload, which may have fixed what was refused (the credentials, the
// topology): the step after it opens the watch session at once, as at
// the start. It waited the heartbeat timeout after the refusal (300 s
// by default), the discards of the copies held meanwhile left to the
// heartbeat. A reload that fixed nothing is refused again, and that
// refusal holds the next try a heartbeat timeout as before.
func TestReloadOpensRefusedWatchSessionAtOnce(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	st := &fakeStore{clk: clk, discarded: map[string][]string{}, copies: map[string]bool{"hub-b": true},
		ps: map[string]*Primary{"hub-b": {Name: "hub-b", Addr: "127.0.0.2:25", LastContact: clk.Now()}}}
	w := &fakeWatcher{fakeHB: fakeHB{db: "db1", calls: map[string]int{}, hang: map[string]bool{}}, push: make(chan []string), ended: make(chan struct{}, 10),
		failing: true, failErr: refusedErr{"535 5.7.8 authentication credentials invalid"}}
	var wg sync.WaitGroup
	r := &failRunner{goRunner: goRunner{&wg}, failed: map[string][]string{}}
	m := New(Config{Timeout: 300 * time.Second, Retries: 3, Clock: clk, Store: st, Heartbeater: w, Runner: r})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); wg.Wait() }()
	m.Step(ctx) // the first step: the watch session for the copies held
	waitUntil(t, "the refused watch session ended", func() bool { return w.connections() == 1 && !watchingNow(m, "hub-b") })

	// Without a reload, steps do not open it again.
	clk.Advance(time.Second)
	m.Step(ctx)
	if watchingNow(m, "hub-b") {
		t.Fatal("a refused watch session was opened again a second later, without a reload")
	}

	// A reload that fixed nothing: one try at the next step, refused,
	// and that refusal holds the next as before.
	m.WatchHeld() // serve.go reloadConfig
	clk.Advance(time.Second)
	m.Step(ctx)
	if !watchingNow(m, "hub-b") {
		t.Fatal("the step after a reload did not open the watch session the primary had refused; it waits a heartbeat timeout after the refusal")
	}
	waitUntil(t, "the refused watch session ended", func() bool { return w.connections() == 2 && !watchingNow(m, "hub-b") })
	clk.Advance(time.Second)
	m.Step(ctx)
	if watchingNow(m, "hub-b") {
		t.Fatal("a watch session refused after the reload was opened again a second later")
	}

	// The reload that fixes the credentials: the next step opens it,
	// and it is let in.
	w.mu.Lock()
	w.failing = false
	w.mu.Unlock()
	m.WatchHeld()
	clk.Advance(time.Second)
	m.Step(ctx)
	if !watchingNow(m, "hub-b") {
		t.Fatal("the step after the second reload did not open the watch session")
	}
	waitUntil(t, "the watch session let in", func() bool { return w.connections() == 3 })
	if !watchingNow(m, "hub-b") {
		t.Fatal("the watch session let in after the reload ended")
	}
}
