package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-17 (receipt42 item 2): a pass pushes the copy of a message marked
// held by this server only to hub-d, whose push breaks with no reply
// (it may hold the copy), and to hub-e, which answers it (a 421 at
// MAIL): each push's RecopyPushing kept its server as one that may hold
// the copy; hub-e's RecopyKeptNothing takes it out again. When hub-c
// keeps the copy, hub-d is owed its discard, hub-e none, and no view
// names hub-e.
func TestSR17RecopyKeptNothingOwesNoDiscard(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	ctx := context.Background()
	m := receiptCopy(s, "x@b.example")
	m.ShadowServer, m.ShadowID = "hub-b", m.OrgID
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(tx *Tx) error { // deferred: waiting
		o, err := tx.Get(m.ID)
		if err != nil {
			return err
		}
		o.State = Ready
		return tx.Put(o)
	}); err != nil {
		t.Fatal(err)
	}
	if err := q.MarkSingleCopy(m.ID, "hub-b", "452 4.3.1 Insufficient system storage"); err != nil {
		t.Fatal(err)
	}
	for _, srv := range []string{"hub-d", "hub-e"} {
		if _, err := q.RecopyPushing(m.ID, srv); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.RecopyKeptNothing(m.ID, "hub-e"); err != nil {
		t.Fatal(err)
	}
	for _, u := range q.UnconfirmedPushes(m.ID) {
		if u.Server == "hub-e" {
			t.Errorf("unconfirmed pushes %+v name hub-e, which kept nothing", q.UnconfirmedPushes(m.ID))
		}
	}
	if err := q.ShadowRecopied(m.ID, "hub-c"); err != nil {
		t.Fatal(err)
	}
	for server, want := range map[string]int{"hub-b": 0, "hub-e": 0, "hub-d": 1, "hub-c": 0} {
		var ds []string
		s.View(func(tx *Tx) error { ds = tx.Discards(server, 10); return nil })
		if len(ds) != want {
			t.Errorf("discards for %s: %v; want %d", server, ds, want)
		}
	}
}

// SR-17, SR-7 (receipt42 item 1: a takeover treats them as holders): a
// server a copy was pushed to without confirmation may hold it, and may
// take it over while this server is down: it is one of the holders the
// start asks what they took over and finished (ShadowHolders, probed by
// the holders' pass), as the server the record names is. It was not
// listed: a returning server delivered its original while that server
// had delivered its taken-over copy.
func TestSR17MayHoldServerIsAHolderToAsk(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	ctx := context.Background()
	m := receiptCopy(s, "x@b.example")
	m.ShadowServer, m.ShadowID = "hub-b", m.OrgID
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(tx *Tx) error {
		o, err := tx.Get(m.ID)
		if err != nil {
			return err
		}
		o.State = Ready
		return tx.Put(o)
	}); err != nil {
		t.Fatal(err)
	}
	// hub-b's push broke after the data (it may hold the copy), and so
	// did hub-d's within the receipt.
	if err := q.MarkSingleCopy(m.ID, "hub-b", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := q.RecopyPushing(m.ID, "hub-d"); err != nil {
		t.Fatal(err)
	}
	held, err := q.ShadowHolders()
	if err != nil {
		t.Fatal(err)
	}
	if held["hub-b"] != 1 || held["hub-d"] != 1 {
		t.Errorf("holders %v; want hub-b (the record's) and hub-d (may hold the copy) once each", held)
	}
}
