package queue

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-4, SR-17: the message of
// TestRecopyElsewhereWritesWithdrawnRelayDiscardAgain (its record names
// edge-e and the relay id R; a hold settled that copy, the release
// marked it, the push to edge-e withdrew R's discard and was not
// confirmed) fails for good. Its attempt's end made the failure DSN
// carry the copy's discard (edge-e, R), while the same commit wrote R's
// discard at once (Tx.Delete → settleSingleMark → discardPushed →
// discardFormerCopy), or the hold had written it already: edge-e drops
// the copy while the DSN is on this disk alone, marked nowhere — a kill
// -9 for good here and the sender is never told. A message marked held
// by this server only at its end has no covering copy: its DSN carries
// nothing and is marked held by this server only (the re-make pass
// copies it), and the copy on edge-e is owed its discard.
func TestRecopyPushedThenFailedDSNCarriesRelayDiscard(t *testing.T) {
	for _, push := range []bool{true, false} {
		t.Run(map[bool]string{true: "pushed to edge-e", false: "released only"}[push], func(t *testing.T) { recopyThenFail(t, push, false) })
	}
	t.Run("copy on receipt under the org id, released only", func(t *testing.T) { recopyThenFail(t, false, true) })
}

func recopyThenFail(t *testing.T, push, orgCopy bool) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var armed atomic.Bool
	d := DelivererFunc(func(_ context.Context, m *Message, _ []byte, rc []int) []Result {
		var out []Result
		for _, i := range rc {
			if m.Connector == "dsn" || !armed.Load() {
				out = append(out, Result{Rcpt: i, Outcome: Deferred, Reply: "451 4.4.1 return path: try later"})
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
	relayID := "edge-e-relay-17"
	if orgCopy {
		relayID = m.OrgID
	}
	m.ShadowServer, m.ShadowID = "edge-e", relayID
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
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
	if push {
		if _, err := q.RecopyPushing(m.ID, "edge-e"); err != nil { // edge-e hung
			t.Fatal(err)
		}
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
	owed, _ := q.Discards("edge-e", 100)
	t.Logf("DSN names copy %q/%q; edge-e is owed %v", fdsn.ShadowServer, fdsn.ShadowID, owed)
	if fdsn.ShadowServer != "" || fdsn.ShadowID != "" {
		t.Errorf("the failure DSN %s carries the discard of %s/%s, a copy settled already (edge-e is owed %v)",
			fdsn.ID, fdsn.ShadowServer, fdsn.ShadowID, owed)
	}
	if !markedSingle(s, fdsn.ID) {
		t.Errorf("the failure DSN %s is not marked held by this server only: on this disk alone, no pass copies it", fdsn.ID)
	}
	if !slices.Contains(owed, relayID) {
		t.Errorf("edge-e is owed %v; want the discard of %s (the message is done: nothing here needs the copy)", owed, relayID)
	}
}

func markedSingle(s *Store, id ID) bool {
	found := false
	_ = s.View(func(tx *Tx) error {
		found = tx.tx.Bucket(bucketSingle).Get(id.Key()) != nil
		return nil
	})
	return found
}

// SR-4 (a sibling): a failure DSN made while another recipient of its
// message was pending (it reports a@, the copy on edge-e covers it) is
// still queued when the message is held and released (the hold wrote
// the copy's discard, the release marked the message) and its last
// recipient is relayed. That end made the early DSN carry the discard
// of the copy settled already (earlydsn.go) and dropped its mark: the
// DSN sat on this disk alone, marked nowhere. It keeps its mark and
// carries nothing.
func TestSR4HeldReleasedEarlyDSNCarriesNothing(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var phase atomic.Int32
	d := DelivererFunc(func(_ context.Context, m *Message, _ []byte, rc []int) []Result {
		var out []Result
		for _, i := range rc {
			switch {
			case m.Connector == "dsn" || phase.Load() == 0:
				out = append(out, Result{Rcpt: i, Outcome: Deferred, Reply: "451 4.4.1 try later"})
			case m.Rcpts[i].Addr == "a@b.example":
				out = append(out, Result{Rcpt: i, Outcome: FailedPerm, Reply: "550 5.1.1 no such user"})
			case phase.Load() == 2:
				out = append(out, Result{Rcpt: i, Outcome: RelayedOK, Reply: "250 ok"})
			default:
				out = append(out, Result{Rcpt: i, Outcome: Deferred, Reply: "451 4.4.1 try later"})
			}
		}
		return out
	})
	s := openTest(t)
	q := NewManager(s, d, ManagerConfig{Hostname: "mx.test", Clock: clk})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); q.Wait() })
	m := receiptCopy(s, "a@b.example", "b@b.example")
	m.ShadowServer, m.ShadowID = "edge-e", m.OrgID
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	q.Start(ctx)
	phase.Store(1)
	if err := q.RetryMessage(ctx, m.ID); err != nil {
		t.Log(err)
	}
	dsnOf := func() *Message {
		for _, x := range messages(t, s) {
			if x.Connector == "dsn" {
				return x
			}
		}
		return nil
	}
	waitFor(t, "the failure DSN of a@", func() bool {
		got, _ := q.Message(m.ID)
		return dsnOf() != nil && got != nil && got.State == Ready
	})
	if fdsn := dsnOf(); fdsn.ShadowServer != "" || !markedSingle(s, fdsn.ID) {
		t.Fatalf("the early failure DSN: names %q, marked %v; want no copy, marked", fdsn.ShadowServer, markedSingle(s, fdsn.ID))
	}
	for i := 0; ; i++ {
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
	if !markedSingle(s, m.ID) {
		t.Fatal("the released message is not marked held by this server only")
	}
	phase.Store(2)
	if err := q.RetryMessage(ctx, m.ID); err != nil {
		t.Log(err)
	}
	waitFor(t, "the message's end", func() bool { got, _ := q.Message(m.ID); return got == nil })
	fdsn := dsnOf()
	if fdsn == nil || fdsn.Rcpts[0].Status != Pending {
		t.Fatalf("the failure DSN: %+v; want it queued (its return path defers)", fdsn)
	}
	owed, _ := q.Discards("edge-e", 100)
	if fdsn.ShadowServer != "" || fdsn.ShadowID != "" {
		t.Errorf("the early failure DSN carries the discard of %s/%s, a copy the hold settled (edge-e is owed %v)", fdsn.ShadowServer, fdsn.ShadowID, owed)
	}
	if !markedSingle(s, fdsn.ID) {
		t.Error("the early failure DSN lost its mark: on this disk alone, no pass copies it")
	}
	if !slices.Contains(owed, m.OrgID) {
		t.Errorf("edge-e is owed %v; want the discard of %s", owed, m.OrgID)
	}
}

// SR-4 (a sibling, copySettled): a message whose copy on hub-b was lost
// with hub-b's database (marked held by this server only) has a failure
// DSN still queued, made while its other recipient was pending; a
// primary's discard settles that recipient. The commit made the DSN
// carry the discard of the copy hub-b no longer has, and dropped the
// DSN's mark: on this disk alone, marked nowhere. It carries nothing and
// stays marked; the discard is written at once.
func TestSR4SettledMarkedMessageEarlyDSNCarriesNothing(t *testing.T) {
	s := openTest(t)
	now := time.Now()
	m := &Message{ID: s.NewID(now), State: Ready, From: "a@example.org", OrgID: "copy-r",
		ShadowServer: "hub-b", ShadowID: "copy-r", NextAttempt: now.Add(time.Hour),
		Rcpts: []Recipient{{Addr: "b@example.net", Status: Pending}, {Addr: "c@example.net", Status: Failed}}}
	dm := &Message{ID: s.NewID(now), State: Ready, Internal: true, Connector: "dsn",
		NextAttempt: now.Add(time.Hour), Rcpts: []Recipient{{Addr: "a@example.org", Status: Pending}}}
	if err := s.Update(context.Background(), func(tx *Tx) error {
		for _, x := range []*Message{m, dm} {
			if err := tx.Put(x); err != nil {
				return err
			}
		}
		if err := tx.markSingleKind(dm.ID, "", now, nil); err != nil {
			return err
		}
		if err := tx.markSingle(m.ID, "hub-b", now); err != nil {
			return err
		}
		return tx.noteReported(dm.ID, m.ID, m.OrgID, m.ShadowServer, m.ShadowID, []string{"c@example.net"})
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(context.Background(), func(tx *Tx) error {
		got, err := tx.Get(m.ID)
		if err != nil {
			return err
		}
		before := statusesNow(got)
		got.Rcpts[0].Status = Relayed
		if err := tx.copySettled(got, before, now); err != nil {
			return err
		}
		return tx.Delete(got.ID)
	}); err != nil {
		t.Fatal(err)
	}
	_ = s.View(func(tx *Tx) error {
		got, err := tx.Get(dm.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.ShadowServer != "" || got.ShadowID != "" {
			t.Errorf("the failure DSN carries the discard of %s/%s, a copy lost with hub-b's database", got.ShadowServer, got.ShadowID)
		}
		if !tx.markedSingle(dm.ID) {
			t.Error("the failure DSN lost its mark: on this disk alone, no pass copies it")
		}
		return nil
	})
	if owed := discardsOwed(t, s, "hub-b"); !slices.Contains(owed, "copy-r") {
		t.Errorf("hub-b is owed %v; want copy-r's discard", owed)
	}
}

// discardsOwed lists the copies whose discard is owed to server.
func discardsOwed(t *testing.T, s *Store, server string) []string {
	t.Helper()
	var out []string
	_ = s.View(func(tx *Tx) error {
		prefix := serverKey(server) + "\x00"
		return tx.tx.Bucket(bucketDiscards).ForEach(func(k, _ []byte) error {
			if id, ok := strings.CutPrefix(string(k), prefix); ok {
				out = append(out, id)
			}
			return nil
		})
	})
	return out
}
