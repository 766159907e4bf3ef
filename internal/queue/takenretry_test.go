package queue

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-6, SR-7: the commit of a taken-over copy's results that failed (a
// full disk) and was tried again (pendingresults.go) carries the note
// its first try carried. The copy, taken over from hub-a (database dbA),
// is handed to hub-c in a shadow session, and hub-c's discard arrives
// while the attempt is still in delivery (kept aside): the results'
// commit settles the recipient and notes it for dbA as relayed. Its
// first try failed; the try that went through ran on the message as
// the failed one had left it in memory — the recipient settled already
// — and wrote neither the handed note nor the takendone note: hub-a,
// back with its database, delivered its original again.
func TestSR6RetriedResultsCommitKeepsTakenNote(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	const org = "fedcba9876543210fedcba9876543210"
	sS := openTest(t)
	var on, armed atomic.Bool
	var failed atomic.Int32
	var qS *Manager
	k := msg(sS, "s@example.org", "k@x.example")
	dS := DelivererFunc(func(_ context.Context, m *Message, _ []byte, rc []int) []Result {
		var out []Result
		for _, i := range rc {
			if !on.Load() {
				out = append(out, Result{Rcpt: i, Outcome: Deferred, Queue: "site:b", Reply: "451 4.4.1 down"})
				continue
			}
			sid := m.ID.String() + "-1"
			// hub-c delivers it and its discard arrives before this
			// attempt's commit: kept aside, applied by that commit.
			if _, err := qS.ApplyDiscards("hub-c", []string{sid}); err != nil {
				t.Error(err)
			}
			out = append(out, Result{Rcpt: i, Outcome: ShadowedOK, Queue: "site:b", Primary: "hub-c", PrimaryAddr: "127.0.0.3:25", ShadowID: sid, Reply: "250 ok"})
		}
		armed.Store(on.Load())
		return out
	})
	// The results' commit (the one that takes the record out of
	// delivery) fails once, as on a full disk.
	sS.setCommitFault(func(tx *Tx) error {
		if !armed.Load() {
			return nil
		}
		if m, err := tx.Get(k.ID); err == nil && m.State == Active {
			return nil
		}
		if failed.CompareAndSwap(0, 1) {
			return fmt.Errorf("write %s: %w", sS.db.Path(), syscall.ENOSPC)
		}
		return nil
	})
	qS = NewManager(sS, dS, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Hour}})
	k.OrgID, k.Arrived = org, clk.Now()
	if stored, err := qS.SubmitShadowCopy(ctx, k, []byte(body), "hub-a", "127.0.0.1:25", "dbA"); err != nil || !stored {
		t.Fatalf("copy on receipt: %v, %v", stored, err)
	}
	for i := 0; i < 3; i++ {
		if _, _, err := qS.ShadowHeartbeatFailed("hub-a", clk.Now(), 0, 3, "timeout"); err != nil {
			t.Fatal(err)
		}
	}
	on.Store(true)
	runCtx, cancel := context.WithCancel(ctx)
	defer func() { cancel(); qS.Wait() }()
	qS.Start(runCtx)
	waitFor(t, "the results' commit to fail", func() bool { return failed.Load() > 0 })
	// Tried again at once (a commit of a group that fails is tried
	// again alone, commit.go) or, failing still, later
	// (pendingresults.go): until the record is gone.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := qS.Message(k.ID); errors.Is(err, ErrNotFound) && qS.PendingResults() == 0 {
			break
		}
		if time.Now().After(deadline) {
			got, _ := qS.Message(k.ID)
			t.Fatalf("the results were never committed: %+v", got)
		}
		clk.Advance(strandedRetry)
		qS.Kick()
		time.Sleep(20 * time.Millisecond)
	}
	ns, _ := qS.TakenDoneFor("dbA", 10)
	if len(ns) != 1 || ns[0] != (TakenDone{ID: org, Addr: "k@x.example", Kind: TakenRelayed}) {
		t.Fatalf("notes for dbA after the retried commit: %+v, want k@ relayed", ns)
	}
}
