package shadow

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// fakeWatcher is a heartbeater that can watch: each Watch call is one
// connection to the primary. It pushes the ids given to push, and fails
// while failing is set.
type fakeWatcher struct {
	fakeHB
	mu      sync.Mutex
	conns   int
	failing bool
	failErr error // the failure while failing; nil: connection refused
	push    chan []string
	ended   chan struct{}
}

func (w *fakeWatcher) Watch(ctx context.Context, primary, addr string, save Save, more func() bool) error {
	w.mu.Lock()
	w.conns++
	failing, failErr := w.failing, w.failErr
	w.mu.Unlock()
	if failing && failErr != nil {
		return failErr
	}
	if failing {
		return errors.New("connection refused")
	}
	if err := save("db1", nil, false); err != nil {
		return err
	}
	defer func() { w.ended <- struct{}{} }()
	for more() {
		select {
		case ids := <-w.push:
			if err := save("db1", ids, true); err != nil {
				return err
			}
		case <-ctx.Done():
			return nil
		case <-time.After(time.Millisecond): // a WAIT= that came back empty
		}
	}
	return nil
}

func (w *fakeWatcher) connections() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.conns
}

// SR-9 with SR-15: senders waiting on a primary get one watch session to
// it, which brings every discard as it is pushed — not a connection per
// query — and ends once nobody waits; a failing one is retried at most
// once per watchRetry of the clock.
func TestExpediteWatchesOneSession(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	st := &fakeStore{clk: clk, discarded: map[string][]string{}, copies: map[string]bool{"hub-b": true},
		ps: map[string]*Primary{"hub-b": {Name: "hub-b", Addr: "127.0.0.2:25", LastContact: clk.Now()}}}
	w := &fakeWatcher{fakeHB: fakeHB{db: "db1", calls: map[string]int{}, hang: map[string]bool{}}, push: make(chan []string), ended: make(chan struct{}, 10)}
	m := New(Config{Timeout: 300 * time.Second, Retries: 3, Clock: clk, Store: st, Heartbeater: w})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m.Step(ctx) // the scheduler's first step: the sessions live in its context

	for i := 0; i < 50; i++ {
		m.Expedite("hub-b") // fifty waiting senders
	}
	w.push <- []string{"m1"}
	w.push <- []string{"m2", "m3"}
	waitUntil(t, "the pushed discards", func() bool {
		st.mu.Lock()
		defer st.mu.Unlock()
		return len(st.discarded["hub-b"]) == 3
	})
	if n := w.connections(); n != 1 {
		t.Fatalf("%d connections for 50 waiting senders, want 1", n)
	}
	if n := w.n("hub-b"); n != 0 {
		t.Fatalf("%d heartbeat sessions opened for waiting senders", n)
	}
	// Nobody waits any more: the session ends.
	clk.Advance(expediteFor)
	select {
	case <-w.ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the watch session outlived the waiting senders")
	}

	// A primary that refuses: one connection per watchRetry, not more.
	w.mu.Lock()
	w.failing, w.conns = true, 0
	w.mu.Unlock()
	m.Expedite("hub-b")
	waitUntil(t, "the first try", func() bool { return w.connections() == 1 })
	for i := 2; i <= 4; i++ {
		waitUntil(t, "the retry timer", func() bool { return clk.Pending() >= 1 })
		if n := w.connections(); n != i-1 {
			t.Fatalf("%d connections before the clock moved, want %d", n, i-1)
		}
		clk.Advance(watchRetry)
		waitUntil(t, "the retry", func() bool { return w.connections() == i })
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; !cond(); i++ {
		if i == 2000 {
			t.Fatalf("timed out: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A primary that refuses the watch session (a 5xx: this server did not
// log in) is named at WARN with its reply — once a minute per primary,
// not at every retry (one a second) — and at DEBUG otherwise.
func TestRefusedWatchWarnsWithReply(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	st := &fakeStore{clk: clk, discarded: map[string][]string{}, copies: map[string]bool{"hub-b": true},
		ps: map[string]*Primary{"hub-b": {Name: "hub-b", Addr: "127.0.0.2:25", LastContact: clk.Now()}}}
	reply := "550 5.7.1 Not permitted to open a shadow session"
	w := &fakeWatcher{fakeHB: fakeHB{db: "db1", calls: map[string]int{}, hang: map[string]bool{}}, push: make(chan []string),
		ended: make(chan struct{}, 10), failing: true, failErr: refusedErr{reply}}
	var logs strings.Builder
	var logMu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		logMu.Lock()
		defer logMu.Unlock()
		return logs.Write(p)
	}), nil))
	m := New(Config{Timeout: 300 * time.Second, Retries: 3, Clock: clk, Store: st, Heartbeater: w, Log: log})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m.Step(ctx)
	m.Expedite("hub-b")
	waitUntil(t, "the first try", func() bool { return w.connections() == 1 })
	for i := 2; i <= 61; i++ {
		if i == 30 {
			m.Expedite("hub-b") // a sender still waits
		}
		waitUntil(t, "the retry timer", func() bool { return clk.Pending() >= 1 })
		clk.Advance(watchRetry)
		waitUntil(t, "the retry", func() bool { return w.connections() == i })
	}
	logMu.Lock()
	out := logs.String()
	logMu.Unlock()
	warns := strings.Count(out, `level=WARN msg="primary refused the watch session" primary=hub-b addr=127.0.0.2:25 reply="`+reply+`"`)
	if warns != 2 {
		t.Fatalf("%d WARNs for 61 refusals in a minute, want 2 (at 0 s and 60 s):\n%s", warns, out)
	}
}
