package shadow

import (
	"context"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// modeWatcher records what more() said at each turn of its session.
type modeWatcher struct {
	fakeHB
	mu    sync.Mutex
	conns int
	modes []string // "lazy" or "urgent", changes only
	ended chan struct{}
}

func (w *modeWatcher) Watch(ctx context.Context, primary, addr string, save Save, more func() (watch, lazy bool)) error {
	w.mu.Lock()
	w.conns++
	w.mu.Unlock()
	defer func() { w.ended <- struct{}{} }()
	for ctx.Err() == nil {
		on, lazy := more()
		if !on {
			return nil
		}
		mode := "urgent"
		if lazy {
			mode = "lazy"
		}
		w.mu.Lock()
		if len(w.modes) == 0 || w.modes[len(w.modes)-1] != mode {
			w.modes = append(w.modes, mode)
		}
		w.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
	return nil
}

func (w *modeWatcher) seen() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.modes...)
}

// SR-17 with SR-9: a primary that pushed copies on receipt (LazyUntil)
// gets a watch session that asks lazily — nobody waits for those
// discards — for as long as the copies came within the last minute; a
// sender that starts waiting on the same primary (delayed
// acknowledgement: Expedite, UrgentUntil) makes that same session
// long-poll until nobody waits, then lazy again, and it ends when both
// are over. One connection throughout.
func TestLazyWatchForCopiesOnReceipt(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	st := &fakeStore{clk: clk, discarded: map[string][]string{}, copies: map[string]bool{"hub-a": true},
		ps: map[string]*Primary{"hub-a": {Name: "hub-a", Addr: "127.0.0.2:25", LastContact: clk.Now(),
			LazyUntil: clk.Now().Add(3 * time.Minute)}}}
	w := &modeWatcher{fakeHB: fakeHB{db: "db1", calls: map[string]int{}, hang: map[string]bool{}}, ended: make(chan struct{}, 10)}
	m := New(Config{Timeout: 300 * time.Second, Retries: 3, Clock: clk, Store: st, Heartbeater: w})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m.Step(ctx)
	waitUntil(t, "a lazy watch", func() bool { s := w.seen(); return len(s) == 1 && s[0] == "lazy" })
	m.Expedite("hub-a") // a sender waits now
	waitUntil(t, "the long poll", func() bool { return len(w.seen()) == 2 })
	clk.Advance(expediteFor + time.Second) // nobody waits; copies came less than three minutes ago
	waitUntil(t, "lazy again", func() bool { return len(w.seen()) == 3 })
	if s := w.seen(); s[0] != "lazy" || s[1] != "urgent" || s[2] != "lazy" {
		t.Fatalf("modes %q, want lazy, urgent, lazy", s)
	}
	clk.Advance(3 * time.Minute)
	select {
	case <-w.ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the lazy watch outlived its copies' minute")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.conns != 1 {
		t.Fatalf("%d watch sessions, want 1", w.conns)
	}
}
