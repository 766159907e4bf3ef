package queue

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-6, SR-14 (rt47 F1b): a server must never deliver two records of one
// message it holds itself. hub-c holds its original of a message (kept
// back while hub-d, which took its copy over, delivered it) and, under
// the same org id, the copy hub-d made again here of that taken-over
// message. hub-d is lost: hub-c takes the copy over. The copy's
// recipients the original still owes are the original's to deliver:
// settled in the takeover's commit, never queued beside it. Seen to fail
// first: both records pending, both delivered.
func TestTakeoverOfCopyOfOwnOriginalSettlesTheCopy(t *testing.T) {
	_, clk, _, q, o, c := twinOfOwnOriginal(t, 0)
	if _, taken, err := q.ShadowHeartbeatFailed("hub-d", clk.Now(), 0, 1, "greeting: EOF"); err != nil || taken != 1 {
		t.Fatalf("takeover of hub-d's copies: %d, %v", taken, err)
	}
	twinSettled(t, q, o, c, "hub-d's copy taken over")
}

// The same for a copy taken over at its expiry (expireShadowCopy): hub-d
// never confirmed its copy made again here, and lost, it never will. The
// recipients hub-c's own original owes stay the original's; taken over
// beside it, hub-c delivered them twice. Seen to fail first.
func TestExpiredCopyOfOwnOriginalSettlesTheCopy(t *testing.T) {
	_, clk, _, q, o, c := twinOfOwnOriginal(t, time.Hour)
	clk.Advance(time.Hour + shadowExpiryGrace + time.Minute)
	q.pruneDiscards(clk.Now())
	twinSettled(t, q, o, c, "hub-d's expired copy taken over")
}

// The same for a copy its primary gives this server (a "<sid> TAKEOVER"
// line: its body unreadable or its record damaged there,
// takeCopyGivenTx): the recipients hub-c's own original owes stay the
// original's; taken over beside it, hub-c delivered them twice. Seen to
// fail first.
func TestGivenCopyOfOwnOriginalSettlesTheCopy(t *testing.T) {
	_, _, _, q, o, c := twinOfOwnOriginal(t, 0)
	held, err := q.Message(c.ID)
	if err != nil || len(held.Rcpts) == 0 || held.Rcpts[0].ShadowID == "" {
		t.Fatalf("hub-d's copy held: %+v, %v", held, err)
	}
	if _, err := q.ApplyDiscards("hub-d", []string{held.Rcpts[0].ShadowID + HandBackSuffix}); err != nil {
		t.Fatal(err)
	}
	twinSettled(t, q, o, c, "the copy hub-d gave here")
}

// The same for a takeover set aside while the copy was in delivery here
// (applyEarlyTakeovers): applied when the copy leaves delivery (here
// Recover after a crash), the recipients hub-c's own original owes stay
// the original's; taken over beside it, hub-c delivered them twice.
// Seen to fail first.
func TestEarlyTakeoverOfCopyOfOwnOriginalSettlesTheCopy(t *testing.T) {
	ctx, clk, s, q, o, c := twinOfOwnOriginal(t, 0)
	// In delivery here when hub-d is lost: the takeover is set aside.
	if err := s.Update(ctx, func(tx *Tx) error {
		m, err := tx.Get(c.ID)
		if err != nil {
			return err
		}
		m.State = Active
		return tx.Put(m)
	}); err != nil {
		t.Fatal(err)
	}
	if _, taken, err := q.ShadowHeartbeatFailed("hub-d", clk.Now(), 0, 1, "greeting: EOF"); err != nil || taken != 1 {
		t.Fatalf("takeover of hub-d's copy in delivery: %d, %v", taken, err)
	}
	if held, err := q.Message(c.ID); err != nil || len(held.Pending()) != 0 {
		t.Fatalf("hub-d's copy in delivery rewritten by the takeover: %+v, %v; want it set aside", held, err)
	}
	if _, _, err := q.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	twinSettled(t, q, o, c, "hub-d's copy taken over in delivery")
}

// twinOfOwnOriginal is the setup of the tests above: hub-c (q, on s,
// with a message expiration of exp when not 0) holds its original o of
// a message to x@ and y@ext.test, its copy on hub-d, and hub-d's copy c
// of that message, made again on hub-c: x@ext.test, which the original
// owes, and z@ext.test, which it does not hold.
func twinOfOwnOriginal(t *testing.T, exp time.Duration) (context.Context, *clock.Fake, *Store, *Manager, *Message, *Message) {
	t.Helper()
	return twinOn(t, openTest(t), exp, body)
}

// twinOn is twinOfOwnOriginal on the store s, the original's body ob.
func twinOn(t *testing.T, s *Store, exp time.Duration, ob string) (context.Context, *clock.Fake, *Store, *Manager, *Message, *Message) {
	t.Helper()
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	nop := DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil })
	q := NewManager(s, nop, ManagerConfig{Clock: clk, Hostname: "hub-c", MessageExpiration: exp})
	o := receiptCopy(s, "x@ext.test", "y@ext.test")
	o.ShadowServer, o.ShadowID, o.Arrived = "hub-d", o.OrgID, clk.Now()
	if err := q.Submit(ctx, o, []byte(ob)); err != nil {
		t.Fatal(err)
	}
	c := msg(s, "a@example.org", "x@ext.test", "z@ext.test")
	c.OrgID, c.Arrived = o.OrgID, clk.Now()
	if stored, err := q.SubmitShadowCopy(ctx, c, []byte(body), "hub-d", "127.0.0.4:25", "dbD"); err != nil || !stored {
		t.Fatalf("hub-d's copy: %v, %v", stored, err)
	}
	return ctx, clk, s, q, o, c
}

// twinSettled checks what the tests above want once hub-c took c (what)
// over: x@ext.test settled by the original, never pending beside it;
// z@ext.test taken over (pending); the original's two recipients its own
// to deliver.
func twinSettled(t *testing.T, q *Manager, o, c *Message, what string) {
	t.Helper()
	got, err := q.Message(c.ID)
	if err != nil {
		t.Fatal(err)
	}
	took := false
	for _, r := range got.Rcpts {
		switch r.Addr {
		case "x@ext.test":
			if r.Status == Pending {
				t.Errorf("x@ext.test of %s pending beside the original's: delivered twice by hub-c", what)
			}
		case "z@ext.test":
			took = r.Status == Pending
		}
	}
	if !took {
		t.Errorf("z@ext.test of %s, which no original here holds, was not taken over: %+v", what, got.Rcpts)
	}
	orig, err := q.Message(o.ID)
	if err != nil || len(orig.Pending()) != 2 {
		t.Errorf("the original: %+v, %v; want both recipients its own to deliver", orig, err)
	}
}

// A copy the ending attempt made itself with a primary that answered
// (fresh) is that primary's still: the takeover set aside settles none
// of it, by the original or otherwise — only the copies made before.
func TestEarlyTakeoverSparesFreshCopyOfOwnOriginal(t *testing.T) {
	ctx, clk, s, _, _, c := twinOfOwnOriginal(t, 0)
	if err := s.Update(ctx, func(tx *Tx) error {
		m, err := tx.Get(c.ID)
		if err != nil {
			return err
		}
		m.State = Active
		if err := tx.Put(m); err != nil {
			return err
		}
		return tx.addEarlyTakeover(m.ID, m.Rcpts[0].Primary, clk.Now(), takenValue("dbD", true))
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(tx *Tx) error {
		m, err := tx.Get(c.ID)
		if err != nil {
			return err
		}
		fresh := map[int]bool{}
		for i, r := range m.Rcpts {
			fresh[i] = r.Addr == "x@ext.test"
		}
		if _, err := applyEarlyTakeoversBack(tx, m, fresh, nil); err != nil {
			return err
		}
		for _, r := range m.Rcpts {
			if r.Addr == "x@ext.test" && r.Status != Shadowed {
				t.Errorf("x@ext.test, a copy the attempt made: %s (%s), want shadowed still", r.Status, r.LastReply)
			}
			if r.Addr == "z@ext.test" && r.Status != Pending {
				t.Errorf("z@ext.test, a copy made before: %s, want taken over", r.Status)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// An original this server cannot deliver — held as poison for a body
// that no longer reads whole here — settles nothing: the copy's sound
// body is the one left to deliver its recipients from. Settled by that
// original, a takeover of hub-d (lost, the holder the original would be
// given to) left x@ext.test delivered by nobody. Seen to fail first.
func TestTakeoverOfCopyOfUnreadableOriginalKeepsTheCopy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	const mark = "the original's own body here"
	ctx, clk, _, _, o, c := twinOn(t, s, 0, "From: a@example.org\r\nSubject: hi\r\n\r\n"+mark+"\r\n")
	if err := s.Update(ctx, func(tx *Tx) error {
		m, err := tx.Get(o.ID)
		if err != nil {
			return err
		}
		m.State, m.LastError = Poison, "body unreadable: test"
		return tx.Put(m)
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// Every place of the file that holds the original's body (a freed
	// page too) reads otherwise now: its checksum fails.
	f, err := os.ReadFile(path)
	if err != nil || !bytes.Contains(f, []byte(mark)) {
		t.Fatalf("the original's body not found in the database: %v", err)
	}
	if err := os.WriteFile(path, bytes.ReplaceAll(f, []byte(mark), []byte(strings.ToUpper(mark))), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(path, Options{UnsafeNoSync: true}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	nop := DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil })
	q := NewManager(s, nop, ManagerConfig{Clock: clk, Hostname: "hub-c"})
	if _, taken, err := q.ShadowHeartbeatFailed("hub-d", clk.Now(), 0, 1, "greeting: EOF"); err != nil || taken != 1 {
		t.Fatalf("takeover of hub-d's copies: %d, %v", taken, err)
	}
	got, err := q.Message(c.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range got.Rcpts {
		if r.Status != Pending {
			t.Errorf("%s of hub-d's copy: %s (%s), want taken over: the original here cannot deliver it", r.Addr, r.Status, r.LastReply)
		}
	}
}

// SR-6, SR-14 with the holds (hold.go): an original held here —
// suspended, quarantined, or in the poison queue with a body that reads
// whole — owes its recipients at the takeover of a copy of the same
// message here as a pending one does: the copy's x@ext.test is settled,
// never delivered behind the hold, and stays the original's to deliver
// at its release.
func TestTakeoverOfCopyOfHeldOriginalLeavesItToTheHold(t *testing.T) {
	for _, st := range []State{Suspended, Quarantined, Poison} {
		t.Run(st.String(), func(t *testing.T) {
			ctx, clk, s, q, o, c := twinOfOwnOriginal(t, 0)
			if err := s.Update(ctx, func(tx *Tx) error {
				m, err := tx.Get(o.ID)
				if err != nil {
					return err
				}
				m.State = st
				if st == Quarantined {
					m.Quarantine = "held by a content check"
				}
				return tx.Put(m)
			}); err != nil {
				t.Fatal(err)
			}
			if _, taken, err := q.ShadowHeartbeatFailed("hub-d", clk.Now(), 0, 1, "greeting: EOF"); err != nil || taken != 1 {
				t.Fatalf("takeover of hub-d's copies: %d, %v", taken, err)
			}
			twinSettled(t, q, o, c, "hub-d's copy taken over beside a "+st.String()+" original")
		})
	}
}
