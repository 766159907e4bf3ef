package queue

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// A message here holds the copy of one recipient for a primary (it relayed
// it there in a shadow session) and is in delivery for another when the
// same message (its org id) arrives again and a check quarantines it. The
// quarantine's commit cannot write the record in delivery (one writer per
// message), so the commit that ends the attempt settles the copy: the
// primary failing later takes nothing over, and the quarantined record is
// the only one that can deliver that recipient (once, at its release).
// While the attempt runs, the operator's release and deletion of the
// quarantined message answer ErrBusy: either would leave the copy to a
// takeover (a deleted message delivered, or a released one twice).
func TestQuarantineReachesCopyInDelivery(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	started, release := make(chan struct{}, 1), make(chan struct{})
	var got []string
	q := NewManager(s, DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		var out []Result
		for _, i := range rcpts {
			got = append(got, m.Rcpts[i].Addr)
			out = append(out, Result{Rcpt: i, Outcome: RelayedOK, Queue: "mx:example.com", Reply: "250 ok"})
		}
		started <- struct{}{}
		<-release
		return out
	}), ManagerConfig{Clock: clk})
	ctx, cancel := context.WithCancel(context.Background())
	released := false
	defer func() {
		if !released {
			close(release)
		}
		cancel()
		q.Wait()
	}()

	now := clk.Now()
	o := msg(s, "a@example.org", "x@example.net", "other@example.com")
	o.OrgID, o.State, o.Arrived, o.NextAttempt = "org-quarbusy-1", Ready, now, now
	o.Rcpts[0].Status, o.Rcpts[0].Primary, o.Rcpts[0].PrimaryAddr, o.Rcpts[0].ShadowID = Shadowed, "hub-b", "127.0.0.2:25", "sid-1"
	o.Rcpts[0].Queue = "mx:example.net"
	if err := s.Update(ctx, func(tx *Tx) error { return tx.PutNew(o, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	q.Start(ctx)
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the message was not attempted")
	}
	held := msg(s, "a@example.org", "X@example.net")
	held.OrgID, held.Quarantine = o.OrgID, "milter: HOLD"
	if err := q.Submit(ctx, held, []byte(body)); err != nil {
		t.Fatal(err)
	}
	if err := q.ReleaseQuarantined(ctx, held.ID); !errors.Is(err, ErrBusy) {
		t.Fatalf("release while a copy of the message is in delivery = %v, want ErrBusy", err)
	}
	if err := q.DeleteQuarantined(ctx, held.ID, false); !errors.Is(err, ErrBusy) {
		t.Fatalf("deletion while a copy of the message is in delivery = %v, want ErrBusy", err)
	}
	close(release)
	released = true
	waitFor(t, "the attempt's commit", func() bool {
		m, err := q.Message(o.ID)
		return errors.Is(err, ErrNotFound) || err == nil && m.State != Active
	})
	// hub-b fails: nothing of the quarantined recipient is taken over.
	if _, err := q.Takeover("hub-b", "heartbeats failed"); err != nil {
		t.Fatal(err)
	}
	for _, m := range queuedWithOrgID(t, s, o.OrgID) {
		for _, r := range m.Rcpts {
			if strings.EqualFold(r.Addr, "x@example.net") && m.State != Quarantined && !r.Status.Done() {
				t.Fatalf("%s (%s) holds %s %s outside the quarantine: a takeover delivers it", m.ID, m.State, r.Addr, r.Status)
			}
		}
	}
	if len(got) != 1 || got[0] != "other@example.com" {
		t.Fatalf("attempted %v, want only other@example.com", got)
	}
	// The quarantine can be ended now.
	if err := q.DeleteQuarantined(ctx, held.ID, false); err != nil {
		t.Fatalf("deletion after the attempt: %v", err)
	}
}

// The same with a copy taken over before the quarantine and in delivery
// when it comes: the release waits for the attempt's commit (ErrBusy),
// and that commit — the attempt deferred — settles the taken-over
// recipient; a record left with nothing to deliver goes.
func TestQuarantineReachesTakenOverCopyInDelivery(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	started, release := make(chan struct{}, 1), make(chan struct{})
	q := NewManager(s, DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		var out []Result
		for _, i := range rcpts {
			out = append(out, Result{Rcpt: i, Outcome: Deferred, Queue: "mx:example.net", Reply: "451 4.4.1 try later"})
		}
		started <- struct{}{}
		<-release
		return out
	}), ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	released := false
	defer func() {
		if !released {
			close(release)
		}
		cancel()
		q.Wait()
	}()
	now := clk.Now()
	o := msg(s, "a@example.org", "x@example.net")
	o.OrgID, o.State, o.Arrived, o.NextAttempt = "org-quarbusy-2", Ready, now, now
	o.Rcpts[0].Primary, o.Rcpts[0].ShadowID = "hub-b", "sid-2"
	takeoverRcpt(&o.Rcpts[0], "heartbeats failed")
	if err := s.Update(ctx, func(tx *Tx) error { return tx.PutNew(o, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	q.Start(ctx)
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the taken-over copy was not attempted")
	}
	held := msg(s, "a@example.org", "X@example.net")
	held.OrgID, held.Quarantine = o.OrgID, "milter: HOLD"
	if err := q.Submit(ctx, held, []byte(body)); err != nil {
		t.Fatal(err)
	}
	if err := q.ReleaseQuarantined(ctx, held.ID); !errors.Is(err, ErrBusy) {
		t.Fatalf("release while a taken-over copy of the message is in delivery = %v, want ErrBusy", err)
	}
	close(release)
	released = true
	waitFor(t, "the attempt's commit", func() bool {
		_, err := q.Message(o.ID)
		return errors.Is(err, ErrNotFound)
	})
	if ms := queuedWithOrgID(t, s, o.OrgID); len(ms) != 1 || ms[0].State != Quarantined {
		t.Fatalf("records of the message after the attempt: %d, want the quarantined one only", len(ms))
	}
	if err := q.ReleaseQuarantined(ctx, held.ID); err != nil {
		t.Fatalf("release after the attempt: %v", err)
	}
}
