package queue

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"umbra/internal/clock"
)

// releaseAfterHold runs a message held by an operator's decision for
// longer than message_expiration, then releases it with release, and
// checks that the release keeps its promise (README Quarantine: "the
// message is scheduled at once as if just received"; Held messages): it
// is attempted and delivered, not failed as expired in the instant it
// was released, and its sender gets no DSN (rt44 edge F1: a quarantine
// release after 5 minutes bounced the message with "expired after
// 5m5s; … no host had replied" and a DSN to a likely forged sender).
// Its expiry and delay notice count from the release: the record says
// so (Arrived the release, no earlier arrival carried, no notice gone).
func releaseAfterHold(t *testing.T, hold func(*Manager, *Message), release func(context.Context, *Manager, ID) error) {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	d := newScripted(func(string, int) (Outcome, string) { return RelayedOK, "250 2.0.0 queued" })
	ev := &eventLog{}
	q := NewManager(s, d, ManagerConfig{Clock: clk, Events: ev, Hostname: "edge.test",
		MessageExpiration: 5 * time.Minute, DelayNotification: 2 * time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	q.Start(ctx)
	m := msg(s, "forged@example.org", "x@example.net")
	hold(q, m)
	clk.Advance(30 * time.Minute) // the hold outlasts message_expiration six times
	q.Kick()
	select {
	case id := <-d.calls:
		t.Fatalf("held message %s was attempted", id)
	case <-time.After(100 * time.Millisecond):
	}
	if err := release(ctx, q, m.ID); err != nil {
		t.Fatal(err)
	}
	if id := d.wait(t); id != m.ID {
		t.Fatalf("attempted %s, want the released message %s (a DSN to its sender?)", id, m.ID)
	}
	select {
	case id := <-d.calls:
		t.Fatalf("a second delivery (%s) after the release: a DSN to the sender?", id)
	case <-time.After(200 * time.Millisecond):
	}
	if ev.has("fail") {
		t.Fatalf("the released message failed: %v", ev.out)
	}
	if n := dsnCount(t, s); n != 0 {
		t.Fatalf("%d DSN(s) queued for the sender", n)
	}
}

// dsnCount counts the messages umbra made (connector "dsn") in the queue.
func dsnCount(t *testing.T, s *Store) int {
	t.Helper()
	n := 0
	if err := s.View(func(tx *Tx) error {
		tx.ForEach(func(m *Message, err error) bool {
			if err == nil && m.Connector == "dsn" {
				n++
			}
			return true
		})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestQ4QuarantineReleaseAfterMessageExpirationIsDelivered(t *testing.T) {
	releaseAfterHold(t, func(q *Manager, m *Message) {
		m.Quarantine = "DMARC p=quarantine failed"
		if err := q.Submit(context.Background(), m, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}, func(ctx context.Context, q *Manager, id ID) error {
		if err := q.ReleaseQuarantined(ctx, id); err != nil {
			return err
		}
		got, err := q.Message(id)
		if err != nil {
			return err
		}
		if now := q.clk.Now(); !got.Arrived.Equal(now) || got.OrgEarlier != 0 || got.DelayNotified {
			t.Errorf("released record: arrived %v (now %v), earlier %v, notified %v: its expiry does not count from the release",
				got.Arrived, now, got.OrgEarlier, got.DelayNotified)
		}
		return nil
	})
}

// The sibling of the quarantine's release: `message resume` of a
// message the operator suspended.
func TestQ4ResumeOfSuspendedMessageAfterMessageExpirationIsDelivered(t *testing.T) {
	releaseAfterHold(t, func(q *Manager, m *Message) {
		// Held before its first attempt could end: suspended in the
		// commit of its receipt's record, as a hold right after it.
		m.State, m.Arrived = Suspended, q.clk.Now()
		if err := q.store.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
			t.Fatal(err)
		}
	}, func(ctx context.Context, q *Manager, id ID) error { return q.ResumeMessage(ctx, id) })
}

// And `message resume` of a poison message.
func TestQ4ResumeOfPoisonMessageAfterMessageExpirationIsDelivered(t *testing.T) {
	releaseAfterHold(t, func(q *Manager, m *Message) {
		m.State, m.Arrived, m.CrashCount, m.LastError = Poison, q.clk.Now(), 3, "crashed the server 3 times"
		if err := q.store.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
			t.Fatal(err)
		}
	}, func(ctx context.Context, q *Manager, id ID) error { return q.ResumeMessage(ctx, id) })
}
