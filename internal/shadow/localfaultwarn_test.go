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
// panicline.Interval) is retried every watchRetry; its WARN must be
// rate-limited as a refusal's is (once a minute per primary), not one
// line a second for as long as the fault lasts.
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
		clk.Advance(watchRetry)
	}
	waitUntil(t, "the 11th session", func() bool { return w.connections() >= 11 })
	if n := buf.count("watch session ended by a fault"); n > 1 {
		t.Fatalf("%d WARN lines in 10 seconds for one local fault (want at most one a minute):\n%s", n, buf.b.String())
	}
}
