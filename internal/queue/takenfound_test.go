package queue

import (
	"testing"
	"time"

	"umbra/internal/clock"
)

// TD-1, SR-6 (rt36 F1): a copy taken over from a primary killed between
// its mailbox write and its commit finds the message in the shared
// mailbox store. That copy was written by the primary, whose commit —
// with its duplicate record and dumpster copy — was lost; the primary,
// back, drops its original as finished elsewhere. The holder's delivery
// is a repeat of the primary's attempt: it keeps its dumpster copy and
// its duplicate record, or a later mailbox failover has nothing to get
// the message back from.
func TestTakenOverCopyFoundInMailboxKeepsDumpsterCopy(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	keeper := &keptCopies{kept: map[ID][]int{}}
	found := func(m *Message, i int) Result {
		return Result{Rcpt: i, Outcome: DeliveredOK, Queue: "mailbox:MDB01", NextHop: "maildir", Database: "MDB01",
			Duplicate: true, Reply: "250 2.0.0 duplicate suppressed: already in the maildir"}
	}
	qS, sS, c := takenCopyRunning(t, clk, ManagerConfig{RetrySchedule: []time.Duration{time.Hour}, Dumpster: keeper},
		"00112233445566778899aabbccddeeff", found, "alice@example.test", "bob@example.test")
	qS.Kick()
	waitFor(t, "the taken-over copy finished", func() bool {
		m, err := qS.Message(c.ID)
		return err == ErrNotFound || m != nil && len(m.Pending()) == 0
	})
	if n := keeper.wait(c.ID, 2); n != 2 {
		t.Errorf("the taken-over copy found in the mailbox kept in the dumpster for %d recipients, want 2", n)
	}
	if err := sS.View(func(tx *Tx) error {
		for _, a := range []string{"alice@example.test", "bob@example.test"} {
			if !tx.WasDelivered("MDB01", c.OrgID, a) {
				t.Errorf("no duplicate record for %s", a)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
