package shadow

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

type localFaultErr struct{}

func (localFaultErr) Error() string { return "internal error (recovered panic): boom" }
func (localFaultErr) LocalFault()   {}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) count(sub string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Count(s.b.String(), sub)
}

// SR-9: a watch session that ends by a fault of this server's own (a
// recovered panic, which delivery logs at most once per
// panicline.Interval) is retried after a pause (watchPause); its WARN
// must be rate-limited as a refusal's is (once a minute per primary),
// not one line per try for as long as the fault lasts.
func TestLocalFaultWatchWarnsOncePerMinute(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	st := &fakeStore{clk: clk, discarded: map[string][]string{}, copies: map[string]bool{"hub-b": true},
		ps: map[string]*Primary{"hub-b": {Name: "hub-b", Addr: "127.0.0.2:25", LastContact: clk.Now()}}}
	w := &fakeWatcher{fakeHB: fakeHB{db: "db1", calls: map[string]int{}, hang: map[string]bool{}}, push: make(chan []string), ended: make(chan struct{}, 10),
		failing: true, failErr: localFaultErr{}}
	var wg sync.WaitGroup
	r := &failRunner{goRunner: goRunner{&wg}, failed: map[string][]string{}}
	buf := &syncBuf{}
	log := slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	m := New(Config{Timeout: 300 * time.Second, Retries: 3, Clock: clk, Store: st, Heartbeater: w, Runner: r, Log: log})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); wg.Wait() }()
	m.mu.Lock()
	m.runCtx = ctx
	m.mu.Unlock()
	m.Expedite("hub-b")
	for i := 1; i <= 10; i++ {
		waitUntil(t, "the retry timer", func() bool { return clk.Pending() >= 1 && w.connections() == i })
		clk.Advance(watchPauseMax) // the fault's pause grows (watchPause)
	}
	waitUntil(t, "the 11th session", func() bool { return w.connections() >= 11 })
	if n := buf.count("watch session ended by a fault"); n > 1 {
		t.Fatalf("%d WARN lines in 10 tries for one local fault (want at most one a minute):\n%s", n, buf.b.String())
	}
}

// SR-9, SR-15 (stall41 item 2): a watch session that ends by a fault of
// this server's own (a recovered panic here, its store failing) was
// opened again every watchRetry for as long as the fault lasted: a
// connection to the primary a second, each to end the same way. It backs
// off as for a primary that is down (watchPause: 1 s, 2 s, then
// watchPauseMax, the heartbeat timeout if shorter), is logged once for
// the incident — not at each try — and reports nothing of the primary.
// A session that ends otherwise ends the incident: the next fault starts
// at watchRetry again.
func TestLocalFaultWatchBacksOffAndLogsOncePerIncident(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	st := &fakeStore{clk: clk, discarded: map[string][]string{}, copies: map[string]bool{"hub-b": true},
		ps: map[string]*Primary{"hub-b": {Name: "hub-b", Addr: "127.0.0.2:25", LastContact: clk.Now()}}}
	w := &fakeWatcher{fakeHB: fakeHB{db: "db1", calls: map[string]int{}, hang: map[string]bool{}}, push: make(chan []string), ended: make(chan struct{}, 10),
		failing: true, failErr: localFaultErr{}, drop: make(chan struct{})}
	var wg sync.WaitGroup
	r := &failRunner{goRunner: goRunner{&wg}, failed: map[string][]string{}}
	buf := &syncBuf{}
	log := slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	m := New(Config{Timeout: 300 * time.Second, Retries: 3, Clock: clk, Store: st, Heartbeater: w, Runner: r, Log: log})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); wg.Wait() }()
	m.mu.Lock()
	m.runCtx = ctx
	m.mu.Unlock()
	m.Expedite("hub-b")

	pauses := []time.Duration{watchRetry, 2 * watchRetry, watchPauseMax, watchPauseMax}
	for i, d := range pauses {
		tries := i + 1
		waitUntil(t, "the retry timer", func() bool { return clk.Pending() >= 1 && w.connections() == tries })
		if d > watchRetry {
			clk.Advance(d - watchRetry/2) // short of the pause: no try yet
			time.Sleep(20 * time.Millisecond)
			if n := w.connections(); n != tries {
				t.Fatalf("try %d came %v after try %d, want a pause of %v after a fault of this server's", n, d-watchRetry/2, tries, d)
			}
			clk.Advance(watchRetry / 2)
		} else {
			clk.Advance(d)
		}
		waitUntil(t, "the next try", func() bool { return w.connections() == tries+1 })
	}
	waitUntil(t, "the last try's retry timer", func() bool { return clk.Pending() >= 1 })
	if n := buf.count("watch session ended by a fault"); n != 1 {
		t.Fatalf("%d log lines for one fault of this server's over %d tries, want 1:\n%s", n, w.connections(), buf.b.String())
	}
	if n := r.count(WatchDest + "hub-b"); n != 0 {
		t.Fatalf("%d failures of the primary reported for a fault of this server's, want none", n)
	}

	// The fault ends: the next session is let in; it ends by the
	// primary's error, and the next fault starts the pause again.
	w.mu.Lock()
	w.failing = false
	w.mu.Unlock()
	clk.Advance(watchPauseMax)
	waitUntil(t, "the session let in", func() bool { return w.connections() == len(pauses)+2 })
	w.mu.Lock()
	w.failing = true
	before := w.conns
	w.mu.Unlock()
	w.drop <- struct{}{}
	<-w.ended
	waitUntil(t, "the retry timer", func() bool { return clk.Pending() >= 1 })
	w.mu.Lock()
	w.failErr = nil // refused: the primary's failure, not this server's
	w.mu.Unlock()
	clk.Advance(watchRetry)
	waitUntil(t, "the try after the session", func() bool { return w.connections() == before+1 })
	w.mu.Lock()
	w.failErr = localFaultErr{}
	w.mu.Unlock()
	waitUntil(t, "its retry timer", func() bool { return clk.Pending() >= 1 })
	clk.Advance(2 * watchRetry) // the outage's second pause
	waitUntil(t, "the fault after the session", func() bool { return w.connections() == before+2 })
	waitUntil(t, "its retry timer", func() bool { return clk.Pending() >= 1 })
	clk.Advance(watchRetry)
	waitUntil(t, "a new fault incident: retried after watchRetry", func() bool { return w.connections() == before+3 })
}
