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
	drop    chan struct{} // a receive ends the open session with an error (nil: never)
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
	if err := save("db1", 0, nil, false); err != nil {
		return err
	}
	defer func() { w.ended <- struct{}{} }()
	for more() {
		select {
		case ids := <-w.push:
			if err := save("db1", 0, ids, true); err != nil {
				return err
			}
		case <-ctx.Done():
			return nil
		case <-w.drop:
			return errors.New("connection reset by peer")
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

	// A primary that is down: one connection per watchRetry at most, the
	// pause doubling while it stays down (watchPause).
	w.mu.Lock()
	w.failing, w.conns = true, 0
	w.mu.Unlock()
	m.Expedite("hub-b")
	waitUntil(t, "the first try", func() bool { return w.connections() == 1 })
	var pause time.Duration
	for i := 2; i <= 4; i++ {
		waitUntil(t, "the retry timer", func() bool { return clk.Pending() >= 1 })
		if n := w.connections(); n != i-1 {
			t.Fatalf("%d connections before the clock moved, want %d", n, i-1)
		}
		pause = watchPause(pause, m.Timing().Timeout)
		clk.Advance(pause)
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
// log in) is named at WARN with its reply, and the watch backs off: no
// new session before a heartbeat timeout after the refusal (rt14 F7: it
// reconnected once a second, the primary logging a refused session each
// time), however many senders wait; once the timeout passed one more
// try, and when the primary lets this server in, the watch runs again.
// shadow list's view (Status) shows the refusal, its reply and since
// when, until a session is let in.
func TestRefusedWatchBacksOff(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	start := clk.Now()
	st := &fakeStore{clk: clk, discarded: map[string][]string{}, copies: map[string]bool{"hub-b": true},
		ps: map[string]*Primary{"hub-b": {Name: "hub-b", Addr: "127.0.0.2:25", LastContact: clk.Now(), DatabaseID: "db1"}}}
	reply := "535 5.7.8 Authentication failed"
	w := &fakeWatcher{fakeHB: fakeHB{db: "db1", calls: map[string]int{}, hang: map[string]bool{}}, push: make(chan []string),
		ended: make(chan struct{}, 10), failing: true, failErr: digestRefusal{refusedErr{reply}, "D:db1"}}
	var logs strings.Builder
	var logMu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		logMu.Lock()
		defer logMu.Unlock()
		return logs.Write(p)
	}), nil))
	obs := &countingObserver{refused: map[string]int{}}
	m := New(Config{Timeout: 300 * time.Second, Retries: 3, Clock: clk, Store: st, Heartbeater: w, Log: log, Observer: obs})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m.Step(ctx)
	m.Expedite("hub-b")
	waitUntil(t, "the first try", func() bool { return w.connections() == 1 })
	waitUntil(t, "the refused watch to end", func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return !m.watching["hub-b"]
	})
	for i := 0; i < 299; i++ { // senders keep waiting, a step every second
		clk.Advance(time.Second)
		m.Expedite("hub-b")
		m.Step(ctx)
	}
	if n := w.connections(); n != 1 {
		t.Fatalf("%d watch sessions to a refusing primary within a heartbeat timeout, want 1", n)
	}
	ps := m.Status()
	if len(ps) != 1 || ps[0].Refused != reply || !ps[0].RefusedSince.Equal(start) || ps[0].Failures != 0 {
		t.Fatalf("status of a refusing primary: %+v; want its reply and since when, no failures", ps)
	}
	clk.Advance(time.Second) // a heartbeat timeout after the refusal: one more try
	m.Expedite("hub-b")
	waitUntil(t, "the try after the back-off", func() bool { return w.connections() == 2 })
	waitUntil(t, "the refused watch to end", func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return !m.watching["hub-b"]
	})
	if ps := m.Status(); ps[0].Refused != reply || !ps[0].RefusedSince.Equal(start) || !ps[0].LastRefused.Equal(start.Add(300*time.Second)) {
		t.Fatalf("status after a second refusal: %+v; want since the first, the last now", ps)
	}
	logMu.Lock()
	out := logs.String()
	logMu.Unlock()
	warns := strings.Count(out, `level=WARN msg="primary refused the watch session" primary=hub-b addr=127.0.0.2:25 reply="`+reply+`"`)
	if warns != 2 {
		t.Fatalf("%d WARNs for 2 refusals 5 minutes apart, want 2:\n%s", warns, out)
	}
	if obs.count("watch") != 2 {
		t.Fatalf("%d refused watch sessions counted, want 2", obs.count("watch"))
	}
	// The primary lets this server in (its login fixed): a heartbeat
	// completes, the refusal is over, the watch runs again at once.
	w.mu.Lock()
	w.failing = false
	w.mu.Unlock()
	if err := m.Contact("hub-b", "db1", 0, nil); err != nil {
		t.Fatal(err)
	}
	if ps := m.Status(); ps[0].Refused != "" {
		t.Fatalf("status after a contact: %+v; want no refusal", ps)
	}
	m.Expedite("hub-b")
	waitUntil(t, "the watch once let in", func() bool { return w.connections() == 3 })
	cancel()
}

// countingObserver counts refusals by session kind, and failed
// heartbeats.
type countingObserver struct {
	nopObserver
	mu      sync.Mutex
	refused map[string]int
	failed  int
}

func (o *countingObserver) Heartbeat(ok bool) {
	o.mu.Lock()
	if !ok {
		o.failed++
	}
	o.mu.Unlock()
}

func (o *countingObserver) Refused(s string) {
	o.mu.Lock()
	o.refused[s]++
	o.mu.Unlock()
}

func (o *countingObserver) count(s string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.refused[s]
}

// failRunner is a scheduler that records the failures its running tasks
// report (TaskFailer).
type failRunner struct {
	goRunner
	mu     sync.Mutex
	failed map[string][]string
}

func (r *failRunner) TaskFailed(dest string, err error) {
	r.mu.Lock()
	r.failed[dest] = append(r.failed[dest], err.Error())
	r.mu.Unlock()
}

func (r *failRunner) count(dest string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.failed[dest])
}

// A watch session to a primary that stopped answering fails inside its
// task, tried again after a pause (watchPause): each failure reaches the scheduler (the
// destination's row counts it with its error) and the views show the
// primary unreachable with the error, not healthy until its next
// heartbeat (rt27 F8); a session that completes clears it.
func TestFailingWatchShowsUnreachable(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	st := &fakeStore{clk: clk, discarded: map[string][]string{}, copies: map[string]bool{"hub-b": true},
		ps: map[string]*Primary{"hub-b": {Name: "hub-b", Addr: "127.0.0.2:25", LastContact: clk.Now()}}}
	w := &fakeWatcher{fakeHB: fakeHB{db: "db1", calls: map[string]int{}, hang: map[string]bool{}}, push: make(chan []string), ended: make(chan struct{}, 10),
		failing: true}
	var wg sync.WaitGroup
	r := &failRunner{goRunner: goRunner{&wg}, failed: map[string][]string{}}
	m := New(Config{Timeout: 300 * time.Second, Retries: 3, Clock: clk, Store: st, Heartbeater: w, Runner: r})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); wg.Wait() }()
	m.mu.Lock()
	m.runCtx = ctx
	m.mu.Unlock()
	m.Expedite("hub-b")
	waitUntil(t, "the first failure reported", func() bool { return r.count(WatchDest+"hub-b") == 1 })
	waitUntil(t, "the retry timer", func() bool { return clk.Pending() >= 1 })
	clk.Advance(watchRetry)
	waitUntil(t, "the second failure reported", func() bool { return r.count(WatchDest+"hub-b") == 2 })
	ps := m.Status()
	if len(ps) != 1 || ps[0].Failures != 0 || ps[0].Unreachable != "watch session failed: connection refused" || ps[0].TakeoverAt.IsZero() {
		t.Fatalf("status while the watch sessions fail: %+v", ps)
	}
	// It answers again: the next session is let in, the failure is gone.
	w.mu.Lock()
	w.failing = false
	w.mu.Unlock()
	waitUntil(t, "the retry timer", func() bool { return clk.Pending() >= 1 })
	clk.Advance(2 * watchRetry) // the third try: the pause doubled (watchPause)
	waitUntil(t, "the session let in", func() bool { return m.Status()[0].Unreachable == "" })
}

// SR-3 with SR-15 (rt39 F1): a watch session opened for copies handed
// on to a primary (the queue marks it urgent at the hand-off) stays open
// for as long as copies are held for it, not a minute after the
// hand-off: the primary may deliver any of them later, and its discard
// must come on the long poll as it commits, not at the next heartbeat.
// Once nothing is held for it, the session ends a minute later.
func TestWatchStaysOpenWhileCopiesAreHeld(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	st := &fakeStore{clk: clk, discarded: map[string][]string{}, copies: map[string]bool{"hub-b": true},
		ps: map[string]*Primary{"hub-b": {Name: "hub-b", Addr: "127.0.0.2:25", LastContact: clk.Now(), UrgentUntil: clk.Now().Add(expediteFor)}}}
	w := &fakeWatcher{fakeHB: fakeHB{db: "db1", calls: map[string]int{}, hang: map[string]bool{}}, push: make(chan []string), ended: make(chan struct{}, 10)}
	m := New(Config{Timeout: 300 * time.Second, Retries: 3, Clock: clk, Store: st, Heartbeater: w})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m.Step(ctx) // the hand-off's urgency: the watch session opens
	waitUntil(t, "the watch session", func() bool { return w.connections() == 1 })
	for i := 0; i < 5; i++ { // five minutes with the copy held
		clk.Advance(50 * time.Second)
		m.Step(ctx)
		if !m.stillUrgent("hub-b") {
			t.Fatalf("the watch session ends %v after the hand-off while a copy is still held", time.Duration(i+1)*50*time.Second)
		}
	}
	w.push <- []string{"m1"}
	waitUntil(t, "the pushed discard", func() bool {
		st.mu.Lock()
		defer st.mu.Unlock()
		return len(st.discarded["hub-b"]) == 1
	})
	if n := w.connections(); n != 1 {
		t.Fatalf("%d connections, want the one watch session", n)
	}
	st.mu.Lock()
	st.copies["hub-b"] = false // nothing held for it any more
	st.mu.Unlock()
	m.Step(ctx)
	clk.Advance(expediteFor + time.Second)
	m.Step(ctx)
	select {
	case <-w.ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the watch session outlived the copies by more than a minute")
	}
}
