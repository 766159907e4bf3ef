package queue

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/clock"
)

// handed38 (SR-6, SR-7, SR-14): a copy taken over from hub-a (database
// dbA) and handed to hub-c in a shadow session is still pending at hub-c
// when hub-a returns with dbA and asks: the holder lists each such
// recipient as "<id> RCPT=<address> TAKEN" (hub-c's copy is shadowed
// here, and taken over again should hub-c fail), hub-a marks its original
// done without a DSN and sends nothing, and hub-a's discard of its copy
// leaves the copy kept here for hub-c as it was. hub-c's later discard
// still notes the recipients for hub-a (relayed), which then change
// nothing there; and the lines end with the copy here.
func TestSR6HandedCopyPendingElsewhereNotDeliveredByReturningPrimary(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	const org = "0123456789abcdef0123456789abcdef"
	handed := func(m *Message, i int) Result {
		return Result{Rcpt: i, Outcome: ShadowedOK, Queue: "site:b", Primary: "hub-c", PrimaryAddr: "127.0.0.3:25", ShadowID: m.ID.String() + "-1", Reply: "250 ok"}
	}
	qS, _, c := takenCopyRunning(t, clk, ManagerConfig{RetrySchedule: []time.Duration{time.Hour}}, org, handed, "x@remote.example", "y@remote.example")
	waitFor(t, "the taken-over copy handed to hub-c", func() bool {
		got, _ := qS.Message(c.ID)
		return got != nil && got.State != Active && len(got.Pending()) == 0 && got.Rcpts[0].Status == Shadowed
	})
	if ns, _ := qS.TakenDoneFor("dbA", 10); len(ns) != 0 {
		t.Fatalf("notes while hub-c holds the copy pending: %+v", ns)
	}
	got := qS.TakenHandedFor("dbA", 10)
	if len(got) != 2 {
		t.Fatalf("listed %+v, want both recipients handed to hub-c", got)
	}
	for _, n := range got {
		if n.Kind != TakenOver || n.ID != org || n.Addr != "x@remote.example" && n.Addr != "y@remote.example" {
			t.Fatalf("line %+v", n)
		}
	}
	if n := qS.TakenHandedFor("dbC", 10); len(n) != 0 {
		t.Fatalf("listed for another database: %+v", n)
	}
	if n := qS.TakenHandedFor("dbA", 1); len(n) != 1 {
		t.Fatalf("max 1: %+v", n)
	}

	// hub-a, back with dbA: its original, its copy held by hub-b (this
	// holder).
	pS := openTest(t)
	var logs syncBuffer
	qP := NewManager(pS, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }),
		ManagerConfig{Clock: clk, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	o := msg(pS, "s@example.org", "x@remote.example", "y@remote.example")
	o.OrgID, o.ShadowServer, o.ShadowID, o.Arrived = org, "hub-b", org, clk.Now()
	o.State, o.NextAttempt = Ready, clk.Now().Add(time.Hour)
	if err := pS.Update(ctx, func(tx *Tx) error { return tx.PutNew(o, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	fe, _, err := qP.ShadowFinishedElsewhere("hub-b", got)
	if err != nil || len(fe) != 2 {
		t.Fatalf("finished elsewhere: %d, %v; want 2", len(fe), err)
	}
	if _, err := qP.Message(o.ID); err == nil {
		t.Fatal("the original stays at hub-a with every recipient handed on by its holder")
	}
	// Logged as left to the holder, which delivers it from there: not
	// "finished", which nothing has yet (rt38b shadow F1).
	if l := logs.String(); strings.Contains(l, "recipient finished") || strings.Count(l, "recipient left to the shadow server that took the copy over") != 2 {
		t.Errorf("hub-a's log for the TAKEN lines:\n%s", l)
	}
	n := 0
	pS.View(func(tx *Tx) error {
		tx.ForEach(func(*Message, error) bool { n++; return true })
		return nil
	})
	if n != 0 {
		t.Fatalf("%d messages left at hub-a (a DSN?), want none", n)
	}
	// hub-a's discard of its copy reaches the holder: the copy kept
	// for hub-c stays.
	lines, ack := qP.Discards("hub-b", 10)
	if len(lines) == 0 {
		t.Fatal("hub-a owes its holder no discard")
	}
	ack()
	if _, err := qS.ApplyDiscards("hub-a", lines); err != nil {
		t.Fatal(err)
	}
	if m, err := qS.Message(c.ID); err != nil || m.Rcpts[0].Status != Shadowed || m.Rcpts[1].Status != Shadowed || m.Rcpts[0].Primary != "hub-c" {
		t.Fatalf("the copy kept for hub-c after hub-a's discard: %+v, %v", m, err)
	}
	if n := qS.TakenHandedFor("dbA", 10); len(n) != 2 {
		t.Fatalf("listed after hub-a's discard: %+v, want both still", n)
	}
	// hub-c delivers and discards: noted for hub-a as relayed, no line
	// left; the note changes nothing at hub-a.
	if _, err := qS.ApplyDiscards("hub-c", []string{c.ID.String() + "-1"}); err != nil {
		t.Fatal(err)
	}
	if n := qS.TakenHandedFor("dbA", 10); len(n) != 0 {
		t.Fatalf("listed after hub-c's discard: %+v", n)
	}
	ns, _ := qS.TakenDoneFor("dbA", 10)
	if len(ns) != 2 {
		t.Fatalf("notes after hub-c's discard: %+v, want both relayed", ns)
	}
	if fe, _, err := qP.ShadowFinishedElsewhere("hub-b", ns); err != nil || len(fe) != 0 {
		t.Fatalf("the notes changed %d at hub-a, %v", len(fe), err)
	}
}

// handed38, the copy in delivery on the holder (SR-6, SR-7; takenbusy.go):
// the returning primary keeps its original back while the holder's
// attempt runs (BUSY); that attempt hands the copy on to hub-c in a
// shadow session. The next complete answer names no BUSY line for it —
// which alone released the original, delivered then beside hub-c's
// copy — but its recipient as TAKEN: applied before the entries end, the
// original is done, and nothing is released.
func TestSR6BusyCopyHandedOnSettlesKeptOriginal(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	const org = "0123456789abcdef0123456789abcdef"
	handed := func(m *Message, i int) Result {
		return Result{Rcpt: i, Outcome: ShadowedOK, Queue: "site:b", Primary: "hub-c", PrimaryAddr: "127.0.0.3:25", ShadowID: m.ID.String() + "-1", Reply: "250 ok"}
	}
	pS := openTest(t)
	qP := NewManager(pS, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	o := msg(pS, "s@example.org", "x@remote.example")
	o.OrgID, o.ShadowServer, o.ShadowID, o.Arrived = org, "hub-b", org, clk.Now()
	o.State, o.NextAttempt = Ready, clk.Now()
	if err := pS.Update(ctx, func(tx *Tx) error { return tx.PutNew(o, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	// The holder's copy is in delivery when hub-a asks: kept back.
	if kept, _, err := qP.ShadowCopiesBusy("hub-b", []string{org}, true, time.Minute); err != nil || len(kept) != 1 {
		t.Fatalf("kept back %d, %v; want the original", len(kept), err)
	}
	// That attempt hands the copy to hub-c.
	qS, _, c := takenCopyRunning(t, clk, ManagerConfig{RetrySchedule: []time.Duration{time.Hour}}, org, handed, "x@remote.example")
	waitFor(t, "the taken-over copy handed to hub-c", func() bool {
		got, _ := qS.Message(c.ID)
		return got != nil && got.State != Active && len(got.Pending()) == 0
	})
	if b := qS.TakenBusyFor("dbA", 10); len(b) != 0 {
		t.Fatalf("busy after the hand-on: %+v", b)
	}
	// The next answer, as the probe applies it: its lines, then the
	// entries.
	lines := qS.TakenHandedFor("dbA", 10)
	if len(lines) != 1 {
		t.Fatalf("lines %+v, want x@ TAKEN", lines)
	}
	if fe, _, err := qP.ShadowFinishedElsewhere("hub-b", lines); err != nil || len(fe) != 1 {
		t.Fatalf("finished elsewhere: %d, %v", len(fe), err)
	}
	if _, released, err := qP.ShadowCopiesBusy("hub-b", nil, true, time.Minute); err != nil || len(released) != 0 {
		t.Fatalf("released %d, %v; want none (the original is done)", len(released), err)
	}
	if _, err := qP.Message(o.ID); err == nil {
		t.Fatal("the original stays at hub-a")
	}
}

// handed38, no loss (SR-6, SR-7): hub-a, back, marked the recipients
// handed to hub-c done on the holder's TAKEN lines; hub-c then fails its
// heartbeats before delivering. The holder takes hub-c's copy over again
// and delivers it itself: the recipient goes out once, from the holder,
// and is noted for hub-a (which changes nothing there).
func TestSR6HandedCopyTakenBackAfterPrimaryLeftItDelivered(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	const org = "0123456789abcdef0123456789abcdef"
	var hubCDown atomic.Bool
	var delivered atomic.Int32
	after := func(m *Message, i int) Result {
		if hubCDown.Load() {
			delivered.Add(1)
			return Result{Rcpt: i, Outcome: DeliveredOK, Reply: "250 ok"}
		}
		return Result{Rcpt: i, Outcome: ShadowedOK, Queue: "site:b", Primary: "hub-c", PrimaryAddr: "127.0.0.3:25", ShadowID: m.ID.String() + "-1", Reply: "250 ok"}
	}
	qS, _, c := takenCopyRunning(t, clk, ManagerConfig{RetrySchedule: []time.Duration{time.Hour}}, org, after, "x@remote.example")
	waitFor(t, "the taken-over copy handed to hub-c", func() bool {
		got, _ := qS.Message(c.ID)
		return got != nil && got.State != Active && len(got.Pending()) == 0
	})
	lines := qS.TakenHandedFor("dbA", 10)
	pS := openTest(t)
	qP := NewManager(pS, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	o := msg(pS, "s@example.org", "x@remote.example")
	o.OrgID, o.ShadowServer, o.ShadowID, o.Arrived = org, "hub-b", org, clk.Now()
	o.State, o.NextAttempt = Ready, clk.Now().Add(time.Hour)
	if err := pS.Update(ctx, func(tx *Tx) error { return tx.PutNew(o, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	if fe, _, err := qP.ShadowFinishedElsewhere("hub-b", lines); err != nil || len(fe) != 1 {
		t.Fatalf("finished elsewhere: %d, %v; want 1", len(fe), err)
	}
	// hub-c fails: its copy here is taken over and delivered here.
	hubCDown.Store(true)
	heartbeatsFail(t, qS, clk, "hub-c")
	qS.Kick()
	waitFor(t, "the holder to deliver hub-c's copy", func() bool {
		_, err := qS.Message(c.ID)
		return delivered.Load() == 1 && err != nil
	})
	ns, _ := qS.TakenDoneFor("dbA", 10)
	if len(ns) != 1 || ns[0].ID != org || ns[0].Kind != TakenDelivered {
		t.Fatalf("notes for hub-a: %+v, want x@ delivered", ns)
	}
	if fe, _, err := qP.ShadowFinishedElsewhere("hub-b", ns); err != nil || len(fe) != 0 {
		t.Fatalf("the note changed %d at hub-a, %v", len(fe), err)
	}
}
