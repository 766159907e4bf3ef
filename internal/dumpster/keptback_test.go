package dumpster

import (
	"context"
	"strings"
	"testing"
	"time"

	"umbra/internal/queue"
)

// TD-2 (rt39 F4): a dumpster redelivery copy that is not delivered —
// expired waiting for its mailbox database, or refused for good — is
// kept in the dumpster again by the commit that fails it, in the
// request's database: the mail stays recoverable, and a later request
// delivers it. Before, such copies left the dumpster for good (3,025
// copies down to 2,268), no DSN and no count saying so.
func TestRedeliveryCopyNotDeliveredIsKeptAgain(t *testing.T) {
	r := newRig(t, Config{MaxSizePerDatabase: 1 << 20, MaxTime: 30 * 24 * time.Hour})
	for i := 1; i <= 3; i++ {
		r.send(i, 300)
		r.clk.Advance(time.Minute)
	}
	// The database failed over; it takes nothing yet: the copies expire.
	r.mu.Lock()
	r.deferAll = true
	r.mu.Unlock()
	req, _, err := r.d.Redeliver(context.Background(), "fo-1", "DB1", t0)
	if err != nil || req.Resubmitted != 3 {
		t.Fatalf("redeliver: %+v %v", req, err)
	}
	r.waitEmpty() // every copy expired (the fake clock moved past message_expiration)
	if got := strings.Join(r.kept("DB1"), " "); got != "1 2 3" {
		t.Fatalf("after the redelivery copies expired the dumpster keeps %q, want 1 2 3: the mail is gone", got)
	}
	// Refused for good this time (a mailbox not restored yet).
	r.mu.Lock()
	r.deferAll, r.refuseAll = false, true
	r.mu.Unlock()
	if _, _, err := r.d.Redeliver(context.Background(), "fo-2", "DB1", t0); err != nil {
		t.Fatal(err)
	}
	r.waitEmpty()
	if got := strings.Join(r.kept("DB1"), " "); got != "1 2 3" {
		t.Fatalf("after the redelivery copies were refused the dumpster keeps %q, want 1 2 3", got)
	}
	// The database takes mail again: a third request delivers each once more.
	r.mu.Lock()
	r.refuseAll = false
	r.mu.Unlock()
	if _, _, err := r.d.Redeliver(context.Background(), "fo-3", "DB1", t0); err != nil {
		t.Fatal(err)
	}
	r.waitEmpty()
	for _, n := range []string{"1", "2", "3"} {
		if got := r.copies("<" + n + "@test>|bob@example.test"); got != 2 {
			t.Errorf("message %s is %d times in the mailbox, want 2 (delivered, then redelivered once)", n, got)
		}
	}
	if got := strings.Join(r.kept("DB1"), " "); got != "1 2 3" {
		t.Errorf("after the redelivery the dumpster keeps %q, want 1 2 3", got)
	}
}

// TD-2: a redelivery copy's recipient refused by a group of the job
// that ends before the others (queue.ReportGroup, committed then:
// jobcommit.go) is kept in the dumpster again by that commit — once: the
// attempt's end, which returns the same result among the job's, keeps
// no second copy of it — and the recipient delivered at the end keeps
// its copy as any delivery does: each recipient in the dumpster once.
func TestRedeliveryCopyRefusedByAnEarlyGroupIsKeptOnce(t *testing.T) {
	r := newRig(t, Config{MaxSizePerDatabase: 1 << 20, MaxTime: 30 * 24 * time.Hour})
	r.send(1, 300, "bob@example.test", "carol@example.test")
	r.clk.Advance(time.Minute)
	r.mu.Lock()
	r.refuseRcpt = "bob@example.test" // the mailbox not restored yet
	r.mu.Unlock()
	keptBefore := r.waitKept(1) // the first delivery's copy, heard after its commit
	if _, _, err := r.d.Redeliver(context.Background(), "fo-1", "DB1", t0); err != nil {
		t.Fatal(err)
	}
	r.waitEmpty()
	held := map[string]int{}
	copies := 0
	r.store.View(func(tx *queue.Tx) error {
		tx.DumpsterScan("DB1", time.Time{}, func(e queue.DumpsterEntry) bool {
			copies++
			for _, rc := range e.Message.Rcpts {
				held[rc.Addr]++
			}
			return true
		})
		return nil
	})
	if held["bob@example.test"] != 1 || held["carol@example.test"] != 1 {
		t.Errorf("after the redelivery the dumpster holds bob@ %d times, carol@ %d times, want each once (%d copies)",
			held["bob@example.test"], held["carol@example.test"], copies)
	}
	// Copies of the redelivery copies: counted as kept again (OPS-42),
	// none as new.
	if kept := r.waitKeptAgain(copies); kept != copies {
		t.Errorf("%d copies counted as kept again by the redelivery, %d in the dumpster", kept, copies)
	}
	if kept := r.waitKept(keptBefore); kept != keptBefore {
		t.Errorf("%d copies counted as new after the redelivery, want the %d of the first delivery", kept, keptBefore)
	}
	// A later request brings bob@'s mail back once the mailbox is there.
	r.mu.Lock()
	r.refuseRcpt = ""
	r.mu.Unlock()
	r.clk.Advance(time.Minute)
	if _, _, err := r.d.Redeliver(context.Background(), "fo-2", "DB1", t0); err != nil {
		t.Fatal(err)
	}
	r.waitEmpty()
	if got := r.copies("<1@test>|bob@example.test"); got != 2 {
		t.Errorf("bob@ has message 1 %d times in the mailbox, want 2 (delivered, then redelivered once)", got)
	}
}

// TD-2: a redelivery copy refused for good when the dumpster keeps no
// copy of its size any more (max_dumpster_size_per_database lowered
// under it meanwhile, or 0: turned off) is gone, and the log says so —
// not "kept in the dumpster again, to be resubmitted again" beside the
// dumpster's own "not kept", the operator told the mail is recoverable
// when nothing holds it.
func TestRedeliveryCopyNotKeptAgainIsSaidGone(t *testing.T) {
	for _, c := range []struct {
		name  string
		bound int64
	}{{"lowered under its size", 100}, {"dumpster turned off", 0}} {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, Config{MaxSizePerDatabase: 1 << 20, MaxTime: 30 * 24 * time.Hour})
			r.send(1, 300)
			r.clk.Advance(time.Minute)
			r.mu.Lock()
			r.refuseAll = true
			r.mu.Unlock()
			// The request's move is one commit; the bound is lowered before
			// the copy's attempt (the manager's queue waits for the kick).
			r.obs.mu.Lock()
			r.obs.onResubmitted = func() { r.d.SetConfig(Config{MaxSizePerDatabase: c.bound, MaxTime: 30 * 24 * time.Hour}) }
			r.obs.mu.Unlock()
			if _, _, err := r.d.Redeliver(context.Background(), "fo-1", "DB1", t0); err != nil {
				t.Fatal(err)
			}
			r.waitEmpty()
			if got := r.kept("DB1"); len(got) != 0 {
				t.Fatalf("the dumpster keeps %q", got)
			}
			deadline := time.Now().Add(10 * time.Second)
			for r.logs.count("request_id=fo-1") < 2 && time.Now().Before(deadline) {
				time.Sleep(2 * time.Millisecond)
			}
			if n := r.logs.count("kept in the dumpster again"); n != 0 {
				t.Errorf("the log says the copy was kept again (%d lines), and the dumpster holds nothing:\n%s", n, r.logs.String())
			}
			if n := r.logs.count("not delivered and not kept again"); n != 1 {
				t.Errorf("%d lines say the copy is gone, want 1:\n%s", n, r.logs.String())
			}
		})
	}
}
