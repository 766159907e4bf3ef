package dumpster

import (
	"context"
	"testing"
	"time"

	"umbra/internal/queue"
)

// TD-1, TD-2: size eviction and a redelivery request take turns, as
// Remove and a request do (the request lock). Run's eviction by size (a
// keep over the bound, a reload that lowers it) ran beside a request
// carrying out its window in batches: between two of its commits it
// removed, oldest first, exactly the copies of the window the request
// was to resubmit next — a request that began with every copy in its
// window resubmitted only part of it, and said it had finished. The
// eviction now waits for the request's end (the request only takes
// copies out: the bound is met again right after it).
func TestTD2SizeEvictionWaitsForRedeliveryRequest(t *testing.T) {
	r := newRig(t, Config{MaxSizePerDatabase: 1 << 30, MaxTime: 24 * time.Hour})
	r.mu.Lock()
	r.deferAll = true // the resubmitted copies stay in the queue: no keep meanwhile
	r.mu.Unlock()
	runDumpster(t, r)
	const n = 4000 // 20 commits of resubmitBatch
	fillTiny(t, r, "DB1", n, t0.Add(-time.Minute))
	type answer struct {
		req *queue.Request
		err error
	}
	got := make(chan answer, 1)
	go func() {
		req, _, err := r.d.Redeliver(context.Background(), "evict-race", "DB1", time.Time{})
		got <- answer{req, err}
	}()
	// The request under way (some of its window resubmitted, not all):
	// the bound is lowered now, which wakes the eviction by size.
	deadline := time.Now().Add(20 * time.Second) // a bound on the test, not a timing assertion
	for {
		var req *queue.Request
		r.store.View(func(tx *queue.Tx) error { req, _ = tx.Request("evict-race"); return nil })
		if req != nil && req.Resubmitted > 0 {
			if req.Phase == queue.Done {
				t.Skip("the request ended before the bound could be lowered beside it")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the request never began its window")
		}
		time.Sleep(time.Millisecond)
	}
	r.d.SetConfig(Config{MaxSizePerDatabase: 100 * 100, MaxTime: 24 * time.Hour}) // 100 tiny copies
	var a answer
	select {
	case a = <-got:
	case <-time.After(60 * time.Second): // a bound on the test, not a timing assertion
		t.Fatal("the redelivery request never ended")
	}
	if a.err != nil {
		t.Fatal(a.err)
	}
	if a.req.Resubmitted+a.req.Skipped != n {
		t.Errorf("the request resubmitted %d copies (skipped %d) of the %d its window held when it began: the eviction took the rest halfway",
			a.req.Resubmitted, a.req.Skipped, n)
	}
	if st := r.waitUnder("DB1", 100*100); st.Bytes > 100*100 {
		t.Errorf("after the request the dumpster holds %d bytes, over the lowered bound", st.Bytes)
	}
}
