package dumpster

import (
	"context"
	"strings"
	"testing"
	"time"
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
