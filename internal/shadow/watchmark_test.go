package shadow

import (
	"context"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// markStore is fakeStore recording the mark each contact's batch came
// with.
type markStore struct {
	*fakeStore
	mu    sync.Mutex
	marks map[string][]uint64 // per primary, a contact's mark each
}

func (s *markStore) Contact(name, dbID string, mark uint64, ids []string) (ContactResult, error) {
	if len(ids) > 0 {
		s.mu.Lock()
		s.marks[name] = append(s.marks[name], mark)
		s.mu.Unlock()
	}
	return s.fakeStore.Contact(name, dbID, mark, ids)
}

func (s *markStore) got(name string) []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]uint64(nil), s.marks[name]...)
}

// markWatcher is a watch session whose one batch was listed under mark.
type markWatcher struct {
	*fakeWatcher
	mark uint64
}

func (w *markWatcher) Watch(ctx context.Context, primary, addr string, save Save, more func() bool) error {
	w.mu.Lock()
	w.conns++
	w.mu.Unlock()
	if err := save("db1", 0, nil, false); err != nil {
		return err
	}
	if err := save("db1", w.mark, []string{"m1"}, true); err != nil {
		return err
	}
	for more() && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	return nil
}

// SR-15 (rrwatch40, the mark earlymark40 gave shadow.Save): a batch of
// discards a watch session brings reaches the store under the mark of
// the reply that listed it, as a heartbeat's does — the wrapper the
// watch task puts around the recorder's Save (watch.go: the outage's
// end) must hand it on, not drop it.
func TestWatchBatchReachesStoreWithItsMark(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	st := &markStore{fakeStore: &fakeStore{clk: clk, discarded: map[string][]string{}, copies: map[string]bool{"hub-b": true},
		ps: map[string]*Primary{"hub-b": {Name: "hub-b", Addr: "127.0.0.2:25", LastContact: clk.Now()}}}, marks: map[string][]uint64{}}
	w := &markWatcher{fakeWatcher: &fakeWatcher{fakeHB: fakeHB{db: "db1", calls: map[string]int{}, hang: map[string]bool{}}}, mark: 7}
	m := New(Config{Timeout: 300 * time.Second, Retries: 3, Clock: clk, Store: st, Heartbeater: w})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m.Step(ctx) // copies held at the start: a watch session
	waitUntil(t, "the batch in the store", func() bool { return len(st.got("hub-b")) == 1 })
	if got := st.got("hub-b"); got[0] != 7 {
		t.Fatalf("the watch session's batch reached the store under mark %d, want 7 (its reply's)", got[0])
	}
}
