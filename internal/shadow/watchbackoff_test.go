package shadow

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-15, SR-6 (watch40 item 2): a watch session to a primary that is down
// is not reopened every second until the takeover: the pause after each
// failed try doubles from watchRetry up to watchPauseMax (the heartbeat
// timeout if shorter), and the
// outage is logged once, not once per try. A contact with the primary
// (a heartbeat let in) ends the pause at the next step. A session let in
// again ends the outage: the next one, a new outage, starts a second after its
// first failure again and is logged once.
func TestWatchToDownPrimaryBacksOffAndLogsOncePerOutage(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	st := &fakeStore{clk: clk, discarded: map[string][]string{}, copies: map[string]bool{"hub-b": true},
		ps: map[string]*Primary{"hub-b": {Name: "hub-b", Addr: "127.0.0.2:25", LastContact: clk.Now()}}}
	w := &fakeWatcher{fakeHB: fakeHB{db: "db1", calls: map[string]int{}, hang: map[string]bool{}}, push: make(chan []string), ended: make(chan struct{}, 10),
		failing: true, drop: make(chan struct{})}
	var wg sync.WaitGroup
	r := &failRunner{goRunner: goRunner{&wg}, failed: map[string][]string{}}
	buf := &syncBuf{}
	log := slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	const timeout = 10 * time.Second
	m := New(Config{Timeout: timeout, Retries: 3, Clock: clk, Store: st, Heartbeater: w, Runner: r, Log: log})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); wg.Wait() }()
	m.mu.Lock()
	m.runCtx = ctx
	m.mu.Unlock()
	m.Expedite("hub-b")

	// The pauses: 1 s, 2 s, then watchPauseMax (4 s, under the
	// heartbeat timeout).
	pauses := []time.Duration{watchRetry, 2 * watchRetry, watchPauseMax, watchPauseMax, watchPauseMax}
	for i, d := range pauses {
		tries := i + 1
		waitUntil(t, "the retry timer", func() bool { return clk.Pending() >= 1 && w.connections() == tries })
		if d > watchRetry {
			clk.Advance(d - watchRetry/2) // short of the pause: no try yet
			time.Sleep(20 * time.Millisecond)
			if n := w.connections(); n != tries {
				t.Fatalf("try %d came %v after try %d, want a pause of %v", n, d-watchRetry/2, tries, d)
			}
			clk.Advance(watchRetry / 2)
		} else {
			clk.Advance(d)
		}
		waitUntil(t, "the next try", func() bool { return w.connections() == tries+1 })
	}
	waitUntil(t, "the last try's retry timer", func() bool { return clk.Pending() >= 1 }) // its failure reported
	if n := r.count(WatchDest + "hub-b"); n != len(pauses)+1 {
		t.Fatalf("%d failures reported to the scheduler, want %d (each try)", n, len(pauses)+1)
	}
	if n := buf.count("watch session to primary failing"); n != 1 {
		t.Fatalf("%d log lines for one outage of %d tries, want 1:\n%s", n, w.connections(), buf.b.String())
	}

	// It answers again, and a heartbeat reaches it in the middle of a
	// pause: the watch session is opened at the next step, not at the
	// pause's end (its discards would wait that long).
	w.mu.Lock()
	w.failing = false
	w.mu.Unlock()
	waitUntil(t, "the retry timer", func() bool { return clk.Pending() >= 1 })
	clk.Advance(watchPauseMax / 2) // short of the pause
	st.mu.Lock()
	st.ps["hub-b"].LastContact = clk.Now()
	st.mu.Unlock()
	m.Step(ctx)
	waitUntil(t, "the session let in", func() bool { return m.Status()[0].Unreachable == "" })

	// A new outage: the open session drops, the next try comes a second
	// later and fails; logged once more.
	w.mu.Lock()
	w.failing = true
	before := w.conns
	w.mu.Unlock()
	w.drop <- struct{}{}
	select {
	case <-w.ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the watch session did not end")
	}
	waitUntil(t, "the retry timer", func() bool { return clk.Pending() >= 1 })
	clk.Advance(watchRetry)
	waitUntil(t, "the first try of the new outage", func() bool { return w.connections() == before+1 })
	waitUntil(t, "its retry timer", func() bool { return clk.Pending() >= 1 })
	if n := buf.count("watch session to primary failing"); n != 2 {
		t.Fatalf("%d log lines for two outages, want 2:\n%s", n, buf.b.String())
	}
}
