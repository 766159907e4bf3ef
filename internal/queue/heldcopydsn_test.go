package queue

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-4, SR-9 (doc.go, "DSNs and shadow copies"): a message whose copy on
// hub-l was lost (marked held by this server only) had its copy made
// again on hub-h while in delivery (heldPrefix: hub-h stores it under
// the org id, the record names it after the attempt). Its attempt fails
// it for good. The copy on hub-h covers the failure as a named copy
// does: the failure DSN carries its discard (hub-h, org id), hub-h keeps
// the copy until the DSN has left, the DSN is not marked held here only,
// and hub-l, whose copy was lost, is owed its discard at once. Before,
// the end read any mark as "no copy covers anything": hub-h's copy was
// discarded in the same commit and the DSN sat on this disk alone.
func TestSR4CopyMadeAgainInDeliveryCoversFailureDSN(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var armed atomic.Bool
	d := DelivererFunc(func(_ context.Context, m *Message, _ []byte, rc []int) []Result {
		var out []Result
		for _, i := range rc {
			if m.Connector == "dsn" || !armed.Load() {
				out = append(out, Result{Rcpt: i, Outcome: Deferred, Reply: "451 4.4.1 try later"})
			} else {
				out = append(out, Result{Rcpt: i, Outcome: FailedPerm, Reply: "550 5.1.1 no such user"})
			}
		}
		return out
	})
	s := openTest(t)
	q := NewManager(s, d, ManagerConfig{Hostname: "mx.test", Clock: clk})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); q.Wait() })
	m := receiptCopy(s, "x@b.example")
	m.ShadowServer, m.ShadowID = "hub-l", m.OrgID
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(tx *Tx) error {
		if err := tx.markSingle(m.ID, "hub-l", clk.Now()); err != nil { // hub-l's new database
			return err
		}
		return tx.addHeld(m.ID, "hub-h") // made again on hub-h in delivery
	}); err != nil {
		t.Fatal(err)
	}
	if n := q.SingleCopyCount(); n != 0 {
		t.Errorf("single-copy count %d before the attempt; want 0 (the copy made again on hub-h counts as held there)", n)
	}
	armed.Store(true)
	q.Start(ctx)
	if err := q.RetryMessage(ctx, m.ID); err != nil {
		t.Log(err)
	}
	waitFor(t, "the attempt's end", func() bool { got, _ := q.Message(m.ID); return got == nil })
	var fdsn *Message
	for _, x := range messages(t, s) {
		if x.Connector == "dsn" {
			fdsn = x
		}
	}
	if fdsn == nil || fdsn.Rcpts[0].Status != Pending {
		t.Fatalf("the failure DSN: %+v; want it queued (its return path defers)", fdsn)
	}
	if !sameServer(fdsn.ShadowServer, "hub-h") || fdsn.ShadowID != m.OrgID {
		t.Errorf("the failure DSN carries %q/%q; want hub-h's copy (%s)", fdsn.ShadowServer, fdsn.ShadowID, m.OrgID)
	}
	if markedSingle(s, fdsn.ID) {
		t.Errorf("the failure DSN marked held by this server only; the copy on hub-h covers it")
	}
	if owed := discardsOwed(t, s, "hub-h"); slices.Contains(owed, m.OrgID) {
		t.Errorf("hub-h, which holds the copy covering the failure DSN, is owed its discard %v before the DSN has left", owed)
	}
	if owed := discardsOwed(t, s, "hub-l"); !slices.Contains(owed, m.OrgID) {
		t.Errorf("hub-l, whose copy was lost, is owed %v; want its discard", owed)
	}
	if markedSingle(s, m.ID) {
		t.Errorf("the original's mark stays after its end")
	}
}
