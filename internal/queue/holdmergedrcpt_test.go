package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-6, SR-7 (reread of takenfix26): the merge of hub-c's plain relay recorded
// b@ as taken in from a copy (noteMergedRcpt), but an operator's hold of
// the original (hold.go: settleHeldCopy → settleCarried) drops that
// record while the original lives on, held: hub-a's relayed note (hub-c's
// discard after its plain relay here) then settles the merged recipient
// of the held original — and a resumed original — nobody delivers b@.
func TestHoldKeepsMergedRecipientFromNote(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	const org = "0123456789abcdef0123456789abcdef"
	pS := openTest(t)
	qP := NewManager(pS, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	o := msg(pS, "s@example.org", "b@x.example")
	o.OrgID, o.ShadowServer, o.ShadowID, o.Arrived = org, "hub-a", org, clk.Now()
	o.State, o.NextAttempt = Ready, clk.Now().Add(time.Hour)
	if err := pS.Update(ctx, func(tx *Tx) error { return tx.PutNew(o, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	r := msg(pS, "s@example.org", "b@x.example")
	r.OrgID, r.Arrived = org, clk.Now()
	if err := qP.Submit(ctx, r, []byte(body)); err != nil {
		t.Fatal(err)
	}
	if _, err := qP.Message(r.ID); err == nil {
		t.Fatalf("not merged: the scenario needs the merge")
	}
	if err := qP.SuspendMessage(ctx, o.ID); err != nil {
		t.Fatal(err)
	}
	_ = pS.View(func(tx *Tx) error {
		mm, _ := tx.Get(o.ID)
		t.Logf("held: carried %v state %s rcpt %s shadow %s/%s", tx.carriedRcpts(o.ID), mm.State, mm.Rcpts[0].Status, mm.ShadowServer, mm.ShadowID)
		return nil
	})
	if err := qP.ResumeMessage(ctx, o.ID); err != nil {
		t.Fatal(err)
	}
	fe, _, err := qP.ShadowFinishedElsewhere("hub-a", []TakenDone{{ID: org, Addr: "b@x.example", Kind: TakenRelayed}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := qP.Message(o.ID)
	if err != nil || m.Rcpts[0].Status != Pending {
		st := "gone"
		if m != nil {
			st = m.Rcpts[0].Status.String()
		}
		t.Fatalf("after an operator's hold, hub-a's relayed note settled the recipient the held original merged from hub-c's plain relay: %d finished elsewhere, original %s (%v): nobody delivers b@x.example", len(fe), st, err)
	}
}

// SR-6, SR-7 (reread of takenfix26), the carried sibling: hub-c relays the
// copy hub-a handed it to hub-b in a shadow session (hub-c keeps a copy,
// "c-1"); hub-b's Ready original merges it and carries hub-c's copy.
// An operator's hold writes hub-c's discard and drops the carry: hub-c,
// its copy settled, discards hub-a's, and hub-a notes b@ relayed for
// hub-b. Resumed, the original's merged recipient is settled by that
// note: nobody delivers b@x.example.
func TestHoldKeepsCarriedRecipientFromNote(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	const org = "0123456789abcdef0123456789abcdef"
	pS := openTest(t)
	qP := NewManager(pS, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	o := msg(pS, "s@example.org", "b@x.example")
	o.OrgID, o.ShadowServer, o.ShadowID, o.Arrived = org, "hub-a", org, clk.Now()
	o.State, o.NextAttempt = Ready, clk.Now().Add(time.Hour)
	if err := pS.Update(ctx, func(tx *Tx) error { return tx.PutNew(o, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	r := msg(pS, "s@example.org", "b@x.example")
	r.OrgID, r.Arrived, r.ShadowServer, r.ShadowID = org, clk.Now(), "hub-c", "c-1"
	if err := qP.Submit(ctx, r, []byte(body)); err != nil {
		t.Fatal(err)
	}
	if _, err := qP.Message(r.ID); err == nil {
		t.Fatalf("not merged: the scenario needs the merge")
	}
	_ = pS.View(func(tx *Tx) error {
		t.Logf("merged: carried %v", tx.carriedRcpts(o.ID))
		return nil
	})
	if err := qP.SuspendMessage(ctx, o.ID); err != nil {
		t.Fatal(err)
	}
	if err := qP.ResumeMessage(ctx, o.ID); err != nil {
		t.Fatal(err)
	}
	fe, _, err := qP.ShadowFinishedElsewhere("hub-a", []TakenDone{{ID: org, Addr: "b@x.example", Kind: TakenRelayed}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := qP.Message(o.ID)
	if err != nil || m.Rcpts[0].Status != Pending {
		st := "gone"
		if m != nil {
			st = m.Rcpts[0].Status.String()
		}
		t.Fatalf("after a hold and release, hub-a's relayed note settled the recipient the original merged (carried) from hub-c's relay: %d finished elsewhere, original %s (%v): nobody delivers b@x.example", len(fe), st, err)
	}
}
