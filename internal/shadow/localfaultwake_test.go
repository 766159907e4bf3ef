package shadow

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-9, SR-15 (rrstall41 item 2): a watch session ended by a fault of
// this server's own (its store failing, a panic here) waits out a
// growing pause (watchPause), but a fault that cleared is shown by the
// next contact with the primary (a heartbeat or a hand-off stored): the
// watch goes again at the next step, as after an outage of the
// primary's — not at its pause's end. It waited up to watchPauseMax,
// and the discards of what the primary delivered meanwhile with it: a
// kill -9 of the primary in that window made this server take those
// copies over and deliver them again.
func TestLocalFaultWatchPauseEndsAtContact(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	st := &fakeStore{clk: clk, discarded: map[string][]string{}, copies: map[string]bool{"hub-b": true},
		ps: map[string]*Primary{"hub-b": {Name: "hub-b", Addr: "127.0.0.2:25", LastContact: clk.Now()}}}
	w := &fakeWatcher{fakeHB: fakeHB{db: "db1", calls: map[string]int{}, hang: map[string]bool{}}, push: make(chan []string), ended: make(chan struct{}, 10),
		failing: true, failErr: localFaultErr{}, drop: make(chan struct{})}
	var wg sync.WaitGroup
	r := &failRunner{goRunner: goRunner{&wg}, failed: map[string][]string{}}
	m := New(Config{Timeout: 300 * time.Second, Retries: 3, Clock: clk, Store: st, Heartbeater: w, Runner: r, Log: slog.New(slog.DiscardHandler)})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); wg.Wait() }()
	m.mu.Lock()
	m.runCtx = ctx
	m.mu.Unlock()
	m.Expedite("hub-b")

	waitUntil(t, "the first try's retry timer", func() bool { return clk.Pending() >= 1 && w.connections() == 1 })
	clk.Advance(watchRetry)
	waitUntil(t, "the second try's pause", func() bool { return clk.Pending() >= 1 && w.connections() == 2 })

	// The fault clears; a heartbeat stores what the primary said.
	w.mu.Lock()
	w.failing = false
	w.mu.Unlock()
	clk.Advance(watchRetry / 2) // within the 2 s pause
	st.mu.Lock()
	st.ps["hub-b"].LastContact = clk.Now()
	st.mu.Unlock()
	m.Step(ctx)
	waitUntil(t, "the watch session opened at the step after the contact, not at its pause's end", func() bool { return w.connections() == 3 })
}
