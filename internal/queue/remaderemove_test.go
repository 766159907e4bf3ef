package queue

import (
	"context"
	"slices"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-13, OPS-3: a message whose first holder hub-h was lost had its copy
// made again on hub-k; the operator's removal must settle every copy the
// record knows of — the one made again too: hub-k, keeping it, would
// take it over and deliver the removed mail should this server fail.
func TestRemovalSettlesTheCopyMadeAgain(t *testing.T) {
	for _, active := range []bool{false, true} {
		t.Run(map[bool]string{false: "named", true: "made again in delivery"}[active], func(t *testing.T) {
			ctx := context.Background()
			clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			ps := openTest(t)
			p := NewManager(ps, nil, ManagerConfig{Clock: clk, Hostname: "hub-p"})
			m := receiptCopy(ps, "x@a.example")
			m.ShadowServer, m.ShadowID, m.Arrived = "hub-h", m.OrgID, clk.Now()
			if err := p.Submit(ctx, m, []byte(body)); err != nil {
				t.Fatal(err)
			}
			if err := p.MarkSingleCopy(m.ID, "hub-h", ""); err != nil { // hub-h lost with its database
				t.Fatal(err)
			}
			if _, err := p.RecopyPushing(m.ID, "hub-k"); err != nil {
				t.Fatal(err)
			}
			setState := func(st State) {
				if err := ps.Update(ctx, func(tx *Tx) error {
					got, err := tx.Get(m.ID)
					if err != nil {
						return err
					}
					got.State = st
					return tx.Put(got)
				}); err != nil {
					t.Fatal(err)
				}
			}
			if active {
				setState(Active)
			}
			if err := p.ShadowRecopiedOrg(m.ID, m.OrgID, "hub-k"); err != nil {
				t.Fatal(err)
			}
			if active {
				setState(Ready) // the attempt's commit
			}
			if err := p.RemoveMessage(ctx, m.ID, false); err != nil {
				t.Fatal(err)
			}
			if owed, _ := p.Discards("hub-k", 100); !slices.Contains(owed, m.OrgID) {
				t.Fatalf("the removal owes hub-k no discard of the copy made again there (owed %q): its takeover delivers the removed mail", owed)
			}
		})
	}
}
