package queue

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// Quick restarts (a crash loop under a service manager) must not push ids
// ever further ahead of the clock: each start begins above the last run's
// reservation, but reserves only a small step past it, so after n quick
// restarts ids are ahead of a clock that did not move by at most the
// window plus n steps — not n windows. Ids still never repeat.
func TestIDDriftBoundedAcrossQuickRestarts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	now := time.Now().Truncate(time.Second) // the clock: it does not advance
	const restarts = 12
	var last ID
	for i := 0; i < restarts; i++ {
		s, err := Open(path, Options{UnsafeNoSync: true, Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		// Each run takes a few messages (commits, which raise the
		// reservation as they do in service) before it dies.
		for j := 0; j < 3; j++ {
			m := &Message{ID: s.NewID(now), State: Ready, Arrived: now, NextAttempt: now, From: "a@example.org",
				Rcpts: []Recipient{{Addr: "b@example.net"}}}
			if m.ID <= last {
				t.Fatalf("run %d: id %s not above %s, handed out before", i, m.ID, last)
			}
			last = m.ID
			if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, []byte("x")) }); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	ahead := time.UnixMicro(int64(last)).Sub(now)
	bound := time.Duration(idReserveAhead+restarts*idReserveStep) * time.Microsecond
	if ahead > bound {
		t.Fatalf("after %d quick restarts ids are %v ahead of a clock that did not move; bound: the window (%v) plus a step (%v) per restart = %v",
			restarts, ahead, time.Duration(idReserveAhead)*time.Microsecond, time.Duration(idReserveStep)*time.Microsecond, bound)
	}
	t.Logf("ids %v ahead after %d restarts (bound %v)", ahead, restarts, bound)
}
