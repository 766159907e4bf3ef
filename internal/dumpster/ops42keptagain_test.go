package dumpster

import (
	"context"
	"strings"
	"testing"
	"time"
)

// OPS-42 item 3: umbra_dumpster_kept_total counted the copy a
// redelivered message leaves when it is delivered again — a second
// keep of the same message, in place of the copy its request took out
// — as a new copy: after one redelivery of one message it read 2 while
// the dumpster held 1. A first delivery's copy counts as kept; a copy of
// a redelivery copy (delivered again, or kept back after failing)
// counts as kept again (umbra_dumpster_kept_again_total), so
// kept + kept_again - resubmitted - evictions is what the dumpster holds.
func TestOPS42KeptCountsOnlyNewCopies(t *testing.T) {
	r := newRig(t, Config{MaxSizePerDatabase: 1 << 20, MaxTime: 30 * 24 * time.Hour})
	r.send(1, 300)
	r.clk.Advance(time.Minute)
	if n := r.waitKept(1); n != 1 {
		t.Fatalf("the first delivery: %d copies kept, want 1", n)
	}
	if _, _, err := r.d.Redeliver(context.Background(), "fo-1", "DB1", t0); err != nil {
		t.Fatal(err)
	}
	r.waitEmpty()
	r.waitKeptAgain(1)
	r.obs.mu.Lock()
	kept, again, resub := r.obs.kept, r.obs.keptAgain, r.obs.resubmitted
	r.obs.mu.Unlock()
	if got := strings.Join(r.kept("DB1"), " "); got != "1" {
		t.Fatalf("after the redelivery the dumpster keeps %q, want 1", got)
	}
	if kept != 1 || again != 1 || resub != 1 {
		t.Errorf("after one redelivery of one message: kept %d, kept again %d, resubmitted %d; want 1, 1, 1 (one copy held)", kept, again, resub)
	}
}

// waitKeptAgain waits (a bounded time) until the observer has heard want
// copies kept again and returns the count.
func (r *rig) waitKeptAgain(want int) int {
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.obs.mu.Lock()
		n := r.obs.keptAgain
		r.obs.mu.Unlock()
		if n >= want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(2 * time.Millisecond)
	}
}
