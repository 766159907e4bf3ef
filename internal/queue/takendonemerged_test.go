package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-6, SR-7: a note naming only a recipient the original took in from
// another server's copy (carried.go) changes nothing, in delivery or
// not: a record in delivery does not count it as waiting, nor keeps it
// (takendonewait.go) for the next probe to apply in vain — its holder's
// probe was ended early for it, and the note, kept, outlived the
// attempt.
func TestSR6TakenDoneInDeliveryIgnoresMergedRecipient(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	const org = "0123456789abcdef0123456789abcdef"
	pS := openTest(t)
	qP := NewManager(pS, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	o := msg(pS, "s@example.org", "b@x.example", "c@x.example")
	o.OrgID, o.ShadowServer, o.ShadowID, o.Arrived = org, "hub-a", org, clk.Now()
	o.State, o.NextAttempt = Ready, clk.Now().Add(time.Hour)
	if err := pS.Update(ctx, func(tx *Tx) error {
		if err := tx.PutNew(o, []byte(body)); err != nil {
			return err
		}
		return tx.carryCopy(o.ID, "hub-c", "1234-1", "b@x.example", "b@x.example")
	}); err != nil {
		t.Fatal(err)
	}
	setState(t, pS, o.ID, Active)
	notes := []TakenDone{{ID: org, Addr: "b@x.example", Kind: TakenRelayed}}
	fe, busy, err := qP.ShadowFinishedElsewhere("hub-a", notes)
	if err != nil || len(fe) != 0 || busy != 0 {
		t.Fatalf("a note naming only the merged recipient of a record in delivery: %d changed, %d in delivery (%v); want 0 and 0", len(fe), busy, err)
	}
	if qP.takenDoneWaiting("hub-a") {
		t.Fatalf("the note of the merged recipient is kept for the record in delivery")
	}
	// A note that would change it (c@, not merged) is still counted.
	notes = append(notes, TakenDone{ID: org, Addr: "c@x.example", Kind: TakenRelayed})
	if _, busy, err := qP.ShadowFinishedElsewhere("hub-a", notes); err != nil || busy != 1 {
		t.Fatalf("a note naming a pending recipient not merged: %d in delivery (%v), want 1", busy, err)
	}
}
