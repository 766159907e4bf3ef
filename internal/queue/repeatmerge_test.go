package queue

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/clock"
)

// TD-1, SR-6: a copy that came marked as one that may repeat another
// server's lost mailbox write (MayRepeat: handed on by the server that
// took it over) merges into an original of the same message this hub
// holds and still owes (mergeHeld: carried, or noted as not copied).
// The original delivers the recipient for both; when it finds the copy
// in the shared store (the primary's lost write), it keeps it in the
// dumpster as the marked copy would have — the primary, back, drops its
// original as finished by the server that took it over, which kept
// nothing either.
func TestMarkedCopyMergedIntoOriginalKeepsDumpsterCopy(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	keeper := &keptCopies{kept: map[ID][]int{}}
	fs := &fileStore{files: map[string]int{}}
	var deferred atomic.Bool // the original's first attempt: the store unreachable
	d := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rc []int) []Result {
		if deferred.CompareAndSwap(false, true) {
			var out []Result
			for _, i := range rc {
				out = append(out, Result{Rcpt: i, Outcome: Deferred, Queue: "mailbox:DB1", Reply: "451 4.3.0 store unreachable"})
			}
			return out
		}
		return fs.Deliver(ctx, m, b, rc)
	})
	q := NewManager(s, d, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Hour}, Dumpster: keeper})
	fs.q = q
	ctx := context.Background()
	runCtx, cancel := context.WithCancel(ctx)
	defer func() { cancel(); q.Wait() }()
	q.Start(runCtx)
	const org = "00112233445566778899aabbccddeeff"
	o := msg(s, "s@example.org", "alice@example.test")
	o.OrgID, o.Arrived = org, clk.Now()
	if err := q.Submit(ctx, o, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the original deferred", func() bool { m, err := q.Message(o.ID); return err == nil && m.State == Ready && m.Attempts > 0 })
	c := msg(s, "s@example.org", "alice@example.test")
	c.OrgID, c.Arrived, c.MayRepeat = org, clk.Now(), true
	c.ShadowServer, c.ShadowID = "hub-s", "s-copy-1" // relayed in a shadow session by the server that took it over
	if err := q.Submit(ctx, c, []byte(body)); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Message(c.ID); err != ErrNotFound {
		t.Fatalf("the marked copy was not merged into the original (%v)", err)
	}
	fs.put(org, "alice@example.test") // the primary's lost write
	clk.Advance(2 * time.Hour)
	q.Kick()
	waitFor(t, "the original finished", func() bool { _, err := q.Message(o.ID); return err == ErrNotFound })
	if n := keeper.wait(o.ID, 1); n != 1 {
		t.Errorf("the copy found in the mailbox kept in the dumpster for %d recipients, want 1", n)
	}
	if err := s.View(func(tx *Tx) error {
		if !tx.WasDelivered("DB1", org, "alice@example.test") {
			t.Error("no duplicate record for alice")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
