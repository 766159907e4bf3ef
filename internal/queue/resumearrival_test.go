package queue

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// ops48 F1: `message resume` of a suspended message rewrote its
// arrival: message show named the resume as "arrived", message list's
// AGE dropped to nothing and --older-than no longer selected it (a
// cron job's `message remove --older-than 1d` skipped every message
// ever suspended and resumed), and a second hold moved it again. The
// resume takes the time held out of the age its expiry counts — not out
// of the arrival the message was received with, which message show,
// --older-than, tracking, the delivery log and the DSN's Arrival-Date
// name.
func TestOps48ResumeKeepsTheArrival(t *testing.T) {
	r := newHeldAgeRig(t, 10*time.Minute, 0)
	first, err := r.q.Message(r.m.ID)
	if err != nil {
		t.Fatal(err)
	}
	arrived, org := first.Arrived, first.OrgArrived()
	for range 4 {
		r.due(t, time.Minute)
	}
	r.holdAndRelease(t, 30*time.Minute)
	r.due(t, time.Minute)
	r.holdAndRelease(t, 20*time.Minute)

	got, err := r.q.Message(r.m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.ArrivedHere().Equal(arrived) || !got.OrgReceived().Equal(org) {
		t.Fatalf("after two resumes the message arrived %v (organisation %v), want %v (%v) as received",
			got.ArrivedHere(), got.OrgReceived(), arrived, org)
	}
	// 55 minutes since its receipt: a filter of 50 selects it.
	old, err := r.q.Messages(MessageFilter{OlderThan: 50 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if len(old) != 1 || old[0].ID != r.m.ID {
		t.Fatalf("--older-than 50m selected %d messages, want the one received 55m ago and resumed since", len(old))
	}
	// The hold still does not age it: 5 minutes of its 10 went.
	if age := r.clk.Now().Sub(got.OrgArrived()); age != 5*time.Minute {
		t.Fatalf("age for the expiry %v, want the 5m queued outside the holds", age)
	}
	// Its expiry's DSN names the receipt as Arrival-Date.
	for range 6 {
		r.due(t, time.Minute)
	}
	want := "Arrival-Date: " + org.Format(time.RFC1123Z)
	waitFor(t, "the expiry's DSN attempted", func() bool {
		r.d.mu.Lock()
		defer r.d.mu.Unlock()
		for _, m := range r.d.seen {
			if m.Connector == "dsn" {
				return true
			}
		}
		return false
	})
	r.d.mu.Lock()
	defer r.d.mu.Unlock()
	for _, m := range r.d.seen {
		if m.Connector == "dsn" && !strings.Contains(m.Helo, want) {
			i := strings.Index(m.Helo, "Arrival-Date")
			t.Fatalf("the DSN says %q, want %q", m.Helo[i:i+50], want)
		}
	}
}

// The sibling in the quarantine's release: it restarts the age (the
// message is scheduled as if just received, rt44 F1), and it rewrote
// the arrival the message was received with likewise: message show
// named the release, --older-than skipped it.
func TestOps48QuarantineReleaseKeepsTheArrival(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	d := newScripted(func(string, int) (Outcome, string) { return Deferred, "451 4.3.0 try later" })
	q := NewManager(s, d, ManagerConfig{Clock: clk, Events: &eventLog{}, RetrySchedule: []time.Duration{time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); q.Wait() })
	q.Start(ctx)
	m := msg(s, "a@example.org", "x@example.net")
	m.Quarantine = "DMARC p=quarantine failed"
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	held, err := q.Message(m.ID)
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Hour)
	if err := q.ReleaseQuarantined(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	d.wait(t)
	got, err := q.Message(m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.ArrivedHere().Equal(held.Arrived) {
		t.Fatalf("released, the message arrived %v, want %v as received", got.ArrivedHere(), held.Arrived)
	}
	if age := clk.Now().Sub(got.OrgArrived()); age != 0 {
		t.Fatalf("age for the expiry %v, want none: the release restarts it", age)
	}
	old, err := q.Messages(MessageFilter{OlderThan: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if len(old) != 1 {
		t.Fatalf("--older-than 1h selected %d messages, want the one received 2h ago and released since", len(old))
	}
}

// The kept receipt survives a restart with its record, follows it into
// a record written from it under another id (a split part), and goes
// with the record's Delete.
func TestOps48KeptReceiptIsStoredWithTheRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := &Message{ID: 7, State: Ready, From: "a@example.org", Arrived: at, OrgEarlier: time.Minute, NextAttempt: at, Rcpts: []Recipient{{Addr: "x@example.net"}}}
	m.resumedFromHold(at.Add(time.Minute), true, at.Add(time.Hour), 0)
	part := *m
	part.ID = 8
	if err := s.Update(context.Background(), func(tx *Tx) error {
		if err := tx.Put(m); err != nil {
			return err
		}
		return tx.Put(&part)
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = Open(path, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Update(context.Background(), func(tx *Tx) error {
		for _, id := range []ID{7, 8} {
			got, err := tx.Get(id)
			if err != nil {
				return err
			}
			if !got.ArrivedHere().Equal(at) || !got.OrgReceived().Equal(at.Add(-time.Minute)) {
				t.Errorf("record %s reopened: arrived %v (organisation %v), want %v (%v)", id, got.ArrivedHere(), got.OrgReceived(), at, at.Add(-time.Minute))
			}
		}
		return tx.Delete(7)
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.View(func(tx *Tx) error {
		if v := tx.tx.Bucket(bucketReceived).Get(ID(7).Key()); v != nil {
			t.Errorf("the deleted record's receipt is still kept: %x", v)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
