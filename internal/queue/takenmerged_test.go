package queue

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-6, SR-7: hub-a took hub-b's copy over and handed it
// to hub-c in a shadow session; hub-c relays it on to hub-b (back
// meanwhile) without a shadow session (hub-b refused XSHADOW: "relaying
// without it"): hub-b merges it into its original, which still owes the
// recipient and carries nothing (releasesNoCopy), and hub-c, its relay
// done, discards hub-a's copy, so hub-a notes the recipient for hub-b as
// relayed. That note must not settle the merged recipient at hub-b: hub-c
// no longer has the message and hub-a has discarded its copy — the
// original is its only copy left.
func TestSR6TakenDoneNoteSparesRecipientMergedFromPlainRelay(t *testing.T) {
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
	// hub-c's plain relay of the copy hub-a handed it.
	r := msg(pS, "s@example.org", "b@x.example")
	r.OrgID, r.Arrived = org, clk.Now()
	if err := qP.Submit(ctx, r, []byte(body)); err != nil {
		t.Fatal(err)
	}
	if _, err := qP.Message(r.ID); err == nil {
		t.Fatalf("hub-c's relay was queued beside the original, not merged: the scenario needs the merge")
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
		t.Fatalf("hub-a's relayed note (hub-c's discard after its plain relay here) settled the recipient merged from that relay: %d finished elsewhere, original %s (%v): nobody delivers b@x.example", len(fe), st, err)
	}
}

// SR-6, SR-7: hub-s (its shadow server) took the
// copy over and, after the chain, hands it back to this primary in a
// shadow session under a new copy id: the original merges it without a
// carry (tookOver); hub-s's relayed note (its handed note, moved to that
// copy, turned by this primary's discard) must not settle the recipient
// the original still owes (carried.go: no note settles a recipient the
// original took in from any copy).
func TestSR6TakenDoneNoteSparesRecipientMergedFromOwnShadowServer(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	const org = "0123456789abcdef0123456789abcdef"
	pS := openTest(t)
	qP := NewManager(pS, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	o := msg(pS, "s@example.org", "r@x.example")
	o.OrgID, o.ShadowServer, o.ShadowID, o.Arrived = org, "hub-s", org, clk.Now()
	o.State, o.NextAttempt = Ready, clk.Now().Add(time.Hour)
	if err := pS.Update(ctx, func(tx *Tx) error { return tx.PutNew(o, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	r := msg(pS, "s@example.org", "r@x.example")
	r.OrgID, r.Arrived, r.ShadowServer, r.ShadowID = org, clk.Now(), "hub-s", "77-2"
	if err := qP.Submit(ctx, r, []byte(body)); err != nil {
		t.Fatal(err)
	}
	if _, err := qP.Message(r.ID); err == nil {
		t.Fatalf("not merged: the scenario needs the merge")
	}
	if m, _ := qP.Message(o.ID); m != nil {
		t.Logf("after merge: shadow %s id %s state %s rcpt %s primary %q", m.ShadowServer, m.ShadowID, m.State, m.Rcpts[0].Status, m.Rcpts[0].Primary)
	}
	if _, _, err := qP.ShadowFinishedElsewhere("hub-s", []TakenDone{{ID: org, Addr: "r@x.example", Kind: TakenRelayed}}); err != nil {
		t.Fatal(err)
	}
	if m, err := qP.Message(o.ID); err != nil || m.Rcpts[0].Status != Pending {
		t.Fatalf("the merged recipient was settled by the note: %v", err)
	}
}

// SR-6, SR-7: taken over from hub-a, handed to hub-c,
// taken back from hub-c (its heartbeats failed) and handed this time to
// hub-a itself, back meanwhile: hub-a's original merged the copy (a
// takeover resubmission from its own shadow server: merged without a
// carry, mergeHeld) and owes the recipient. hub-a's discard of the copy
// kept here for it (written at once by the merge, or when its original
// ends) must not turn into a note for hub-a's own database: that note
// would settle the very recipient its original still owes.
func TestSR6TakenChainHandedBackToFirstPrimaryNotNoted(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	const org = "0123456789abcdef0123456789abcdef"
	qS, _, c := takenCopyRunning(t, clk, ManagerConfig{RetrySchedule: []time.Duration{time.Hour}}, org, func(m *Message, i int) Result {
		if m.Rcpts[i].Primary == "hub-a" {
			return Result{Rcpt: i, Outcome: ShadowedOK, Queue: "site:b", Primary: "hub-c", PrimaryAddr: "127.0.0.3:25", ShadowID: m.ID.String() + "-1", Reply: "250 ok"}
		} // back to hub-a itself
		return Result{Rcpt: i, Outcome: ShadowedOK, Queue: "site:b", Primary: "hub-a", PrimaryAddr: "127.0.0.1:25", ShadowID: m.ID.String() + "-2", Reply: "250 ok"}
	}, "r@x.example")
	waitFor(t, "the taken-over copy handed to hub-c", func() bool {
		got, _ := qS.Message(c.ID)
		return got != nil && got.Rcpts[0].Status == Shadowed && got.Rcpts[0].Primary == "hub-c"
	})
	heartbeatsFail(t, qS, clk, "hub-c")
	waitFor(t, "the copy taken back from hub-c and handed to hub-a itself", func() bool {
		got, _ := qS.Message(c.ID)
		return got != nil && got.Rcpts[0].Status == Shadowed && got.Rcpts[0].Primary == "hub-a"
	})
	if _, err := qS.ApplyDiscards("hub-a", []string{c.ID.String() + "-2"}); err != nil {
		t.Fatal(err)
	}
	if ns, _ := qS.TakenDoneFor("dbA", 10); len(ns) != 0 {
		t.Fatalf("notes for hub-a after its own discard of the copy handed to it: %+v, want none (its original merged the copy and still owes r@)", ns)
	}
}

// SR-6, SR-7: taken over from hub-a, handed to hub-c, taken back from
// hub-c (its heartbeats failed) and handed to hub-c again under a new
// copy id: the note for hub-a's database goes with the recipient to that
// copy, so hub-c's discard of it notes the recipient for hub-a (left
// under the first copy's id, nothing would ever turn it into a note:
// hub-a back would deliver its original again).
func TestSR6TakenChainHandedBackToSameHubStillNoted(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	const org = "0123456789abcdef0123456789abcdef"
	var n atomic.Int32
	qS, _, c := takenCopyRunning(t, clk, ManagerConfig{RetrySchedule: []time.Duration{time.Hour}}, org, func(m *Message, i int) Result {
		sid := fmt.Sprintf("%s-%d", m.ID, n.Add(1))
		return Result{Rcpt: i, Outcome: ShadowedOK, Queue: "site:b", Primary: "hub-c", PrimaryAddr: "127.0.0.3:25", ShadowID: sid, Reply: "250 ok"}
	}, "r@x.example")
	waitFor(t, "the taken-over copy handed to hub-c", func() bool {
		got, _ := qS.Message(c.ID)
		return got != nil && got.Rcpts[0].Status == Shadowed && got.Rcpts[0].ShadowID == c.ID.String()+"-1"
	})
	heartbeatsFail(t, qS, clk, "hub-c")
	waitFor(t, "the copy taken back from hub-c and handed to hub-c again", func() bool {
		got, _ := qS.Message(c.ID)
		return got != nil && got.Rcpts[0].Status == Shadowed && got.Rcpts[0].ShadowID == c.ID.String()+"-2"
	})
	if _, err := qS.ApplyDiscards("hub-c", []string{c.ID.String() + "-2"}); err != nil {
		t.Fatal(err)
	}
	if ns, _ := qS.TakenDoneFor("dbA", 10); len(ns) != 1 || ns[0].Addr != "r@x.example" {
		t.Fatalf("notes for hub-a after hub-c's discard of the copy handed to it again: %+v, want r@x.example relayed (hub-a back would deliver it again)", ns)
	}
}
