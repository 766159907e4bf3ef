package queue

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-3, SR-17: the primary's side of a copy made again on the server that
// still keeps the message's copy under the relay's id (edge-e relayed it
// here in a shadow session; the record names edge-e and the relay id R).
// An operator's hold settled that copy — the discard of R owed to edge-e,
// not fetched — and the release marked it. The push to edge-e withdraws
// the discard of R (edge-e folds the push into that copy, and R fetched
// after it would drop it: delivery.TestRecopyOnFormerHolderWithdrawsOldDiscard).
// That discard must not be lost when the push is not confirmed: the copy
// made on another server, or the message ending while marked, writes it
// again — else edge-e keeps the relay's copy for ever and takes it over.
func TestRecopyElsewhereWritesWithdrawnRelayDiscardAgain(t *testing.T) {
	for _, end := range []string{"copied elsewhere", "delivered"} {
		t.Run(end, func(t *testing.T) {
			ctx := context.Background()
			clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			nop := DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil })
			s := openTest(t)
			q := NewManager(s, nop, ManagerConfig{Clock: clk}) // not started
			m := receiptCopy(s, "x@b.example")
			const relayID = "edge-e-relay-17"
			m.ShadowServer, m.ShadowID = "edge-e", relayID
			if err := q.Submit(ctx, m, []byte(body)); err != nil {
				t.Fatal(err)
			}
			for i := 0; ; i++ { // the submission's hand-off may hold it a moment
				err := q.SuspendMessage(ctx, m.ID)
				if err == nil {
					break
				}
				if !errors.Is(err, ErrBusy) || i == 500 {
					t.Fatal(err)
				}
				time.Sleep(2 * time.Millisecond)
			}
			if err := q.ResumeMessage(ctx, m.ID); err != nil {
				t.Fatal(err)
			}
			if owed, _ := q.Discards("edge-e", 100); !slices.Contains(owed, relayID) {
				t.Fatalf("the hold owes edge-e %v, want the discard of %s", owed, relayID)
			}
			if _, err := q.RecopyPushing(m.ID, "edge-e"); err != nil { // edge-e hung
				t.Fatal(err)
			}
			if owed, _ := q.Discards("edge-e", 100); slices.Contains(owed, relayID) {
				t.Fatalf("the push to edge-e left the discard of %s owed to it: %v", relayID, owed)
			}
			switch end {
			case "copied elsewhere":
				if err := q.ShadowRecopiedOrg(m.ID, m.OrgID, "hub-d"); err != nil {
					t.Fatal(err)
				}
			case "delivered":
				if err := s.Update(ctx, func(tx *Tx) error { return tx.Delete(m.ID) }); err != nil {
					t.Fatal(err)
				}
			}
			owed, _ := q.Discards("edge-e", 100)
			if !slices.Contains(owed, relayID) || !slices.Contains(owed, m.OrgID) {
				t.Errorf("%s: edge-e is owed %v, want the relay copy's discard %s and the push's %s", end, owed, relayID, m.OrgID)
			}
		})
	}
}
