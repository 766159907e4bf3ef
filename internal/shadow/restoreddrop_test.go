package shadow

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/clock"
)

// endingStore is a restoredStore with no restored copy left: its answer
// carries the end of the restore's mark, a commit of the store.
type endingStore struct {
	*restoredStore
	m     *Manager
	ended atomic.Int32
}

func (e *endingStore) RestoredWaiting(p string) (bool, func()) {
	e.asked.Add(1)
	return false, func() {
		e.m.mu.Lock() // the manager's lock: held by the caller, it never returns
		e.m.mu.Unlock()
		e.ended.Add(1)
	}
}

// rt19 reread (mendq19b 3): the end of a restore's mark is a commit of
// the store (an fsync); the step asks whether restored copies wait with
// the manager's lock held, and ends the mark after it lets the lock go —
// heartbeats and sessions never wait on that commit.
func TestRestoredMarkEndedOutsideManagerLock(t *testing.T) {
	clk := clock.NewFake(t0)
	fs := &fakeStore{clk: clk, ps: map[string]*Primary{"hub-b": {Name: "hub-b", Addr: "127.0.0.2:25", LastContact: t0, DatabaseID: "db1"}},
		copies: map[string]bool{"hub-b": true}, discarded: map[string][]string{}}
	st := &endingStore{restoredStore: &restoredStore{heldStore: &heldStore{fakeStore: fs, held: []string{"id-a"}}}}
	hb := &reconcilingHB{fakeHB: &fakeHB{db: "db1", calls: map[string]int{}, hang: map[string]bool{}}, keep: map[string]bool{"id-a": true}}
	m := New(Config{Timeout: 5 * time.Second, Retries: 3, CommandTimeout: 60 * time.Second, Clock: clk, Store: st, Heartbeater: hb})
	st.m = m
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Step(context.Background())
		m.Wait()
		for i := 0; i < 3; i++ { // past a heartbeat interval: asked again in the step
			clk.Advance(6 * time.Second)
			fs.mu.Lock()
			fs.ps["hub-b"].LastContact = clk.Now()
			fs.mu.Unlock()
			m.Step(context.Background())
			m.Wait()
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second): // a bound on a deadlock, not a timing
		t.Fatal("the step did not return: the restore's mark was ended under the manager's lock")
	}
	if st.ended.Load() == 0 || st.asked.Load() < 2 {
		t.Fatalf("asked %d times, mark ended %d times; want it asked in the step and ended", st.asked.Load(), st.ended.Load())
	}
}
