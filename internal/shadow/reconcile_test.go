package shadow

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// heldStore lists old copies in batches.
type heldStore struct {
	*fakeStore
	held []string
}

func (h *heldStore) HeldCopies(primary string, after uint64, max int) ([]string, uint64, error) {
	if int(after) >= len(h.held) {
		return nil, 0, nil
	}
	end := min(int(after)+max, len(h.held))
	next := uint64(end)
	if end == len(h.held) {
		next = 0
	}
	return h.held[after:end], next, nil
}

// reconcilingHB answers XQUERYHELD: every id is finished but keep.
type reconcilingHB struct {
	*fakeHB
	mu    sync.Mutex
	asked [][]string
	keep  map[string]bool
}

func (r *reconcilingHB) Reconcile(ctx context.Context, primary, addr string, ids []string, save Save) error {
	r.mu.Lock()
	r.asked = append(r.asked, ids)
	r.mu.Unlock()
	if err := save("db1", 0, nil, false); err != nil {
		return err
	}
	var done []string
	for _, id := range ids {
		if !r.keep[id] {
			done = append(done, id)
		}
	}
	return save("db1", 0, done, false)
}

func (r *reconcilingHB) questions() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]string(nil), r.asked...)
}

// Reconciliation runs at the first step and then every reconcileEvery
// per primary, asks at most heldBatch ids, resumes where it stopped,
// applies the finished ids as discards (not a contact), and leaves a
// primary that fails heartbeats alone.
func TestReconcileAsksAboutOldCopies(t *testing.T) {
	clk := clock.NewFake(t0)
	fs := &fakeStore{clk: clk, ps: map[string]*Primary{"hub-b": {Name: "hub-b", Addr: "127.0.0.2:25", LastContact: t0, DatabaseID: "db1"}},
		copies: map[string]bool{"hub-b": true}, discarded: map[string][]string{}}
	st := &heldStore{fakeStore: fs}
	for i := 0; i < heldBatch+10; i++ {
		st.held = append(st.held, "id-"+string(rune('a'+i%26))+string(rune('a'+i/26)))
	}
	hb := &reconcilingHB{fakeHB: &fakeHB{db: "db1", calls: map[string]int{}, hang: map[string]bool{}}, keep: map[string]bool{st.held[0]: true}}
	m := New(Config{Timeout: 24 * time.Hour, Retries: 3, CommandTimeout: 60 * time.Second, Clock: clk, Store: st, Heartbeater: hb})
	step := func(d time.Duration) {
		clk.Advance(d)
		m.Step(context.Background())
		m.Wait()
	}
	step(0)
	if q := hb.questions(); len(q) != 1 || len(q[0]) != heldBatch {
		t.Fatalf("first step asked %d questions", len(q))
	}
	step(time.Minute)
	if q := hb.questions(); len(q) != 1 {
		t.Fatalf("asked again %d times within %v", len(q)-1, reconcileEvery)
	}
	step(reconcileEvery)
	q := hb.questions()
	if len(q) != 2 || !slices.Equal(q[1], st.held[heldBatch:]) {
		t.Fatalf("the second question did not resume after the first batch: %v", q)
	}
	fs.mu.Lock()
	got := fs.discarded["hub-b"]
	p := *fs.ps["hub-b"]
	fs.mu.Unlock()
	if len(got) != heldBatch+10-1 || slices.Contains(got, st.held[0]) {
		t.Fatalf("discarded %d ids (the kept one among them: %v)", len(got), slices.Contains(got, st.held[0]))
	}
	if !p.LastContact.Equal(t0) {
		t.Fatalf("a reconciliation counted as a contact: %v", p.LastContact)
	}
	// A primary failing its heartbeats is not asked.
	fs.mu.Lock()
	fs.ps["hub-b"].Failures = 1
	fs.mu.Unlock()
	step(reconcileEvery)
	if q := hb.questions(); len(q) != 2 {
		t.Fatalf("a failing primary was asked")
	}
	// Nor one that refuses this server's sessions (rt14 F7): asked
	// again once it let a session in.
	fs.mu.Lock()
	fs.ps["hub-b"].Failures = 0
	fs.mu.Unlock()
	m.Recorder().Refused("hub-b", SessionHeartbeat, "535 5.7.8 Authentication failed")
	step(reconcileEvery)
	if q := hb.questions(); len(q) != 2 {
		t.Fatalf("a refusing primary was asked")
	}
	if err := m.Contact("hub-b", "db1", 0, nil); err != nil {
		t.Fatal(err)
	}
	step(0)
	if q := hb.questions(); len(q) != 3 {
		t.Fatalf("a primary that let this server in again was not asked: %d questions", len(q))
	}
}
