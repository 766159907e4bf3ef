package shadow

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// rt43 F3: under steady load a holder's copies for a primary all go now
// and then (each discard comes at once); a step of the manager in that
// moment ended the watch session — the primary unlisted, its urgency
// dropped — although copies kept coming, and the next session opened
// only when a later step saw the primary urgent again: the discards of
// that gap came in one batch, up to a second late. The session stays
// open while the primary is urgent (a minute after its last copy),
// whatever a step in between lists.
func TestWatchOutlivesAMomentWithoutCopies(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	st := &fakeStore{clk: clk, discarded: map[string][]string{}, copies: map[string]bool{"hub-b": true},
		ps: map[string]*Primary{"hub-b": {Name: "hub-b", Addr: "127.0.0.2:25", LastContact: clk.Now()}}}
	w := &fakeWatcher{fakeHB: fakeHB{db: "db1", calls: map[string]int{}, hang: map[string]bool{}}, push: make(chan []string), ended: make(chan struct{}, 10)}
	m := New(Config{Timeout: 300 * time.Second, Retries: 3, Clock: clk, Store: st, Heartbeater: w})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m.Step(ctx)
	m.Expedite("hub-b")
	w.push <- []string{"m1"}
	st.mu.Lock()
	st.copies["hub-b"] = false // the last copy went with m1's discard
	st.mu.Unlock()
	m.Step(ctx)
	// The fake session looks at more() every millisecond while idle:
	// an ending one has ended well within this.
	select {
	case <-w.ended:
		t.Fatal("the watch session ended at a step that found no copy for a moment, although the primary is urgent")
	case <-time.After(200 * time.Millisecond):
	}
	st.mu.Lock()
	st.copies["hub-b"] = true // the next copy came
	st.mu.Unlock()
	select {
	case w.push <- []string{"m2"}:
	case <-w.ended:
		t.Fatal("the watch session ended at a step that found no copy for a moment, although the primary is urgent")
	case <-time.After(10 * time.Second):
		t.Fatal("the watch session takes no discard")
	}
	if n := w.connections(); n != 1 {
		t.Fatalf("%d watch sessions, want 1", n)
	}
}
