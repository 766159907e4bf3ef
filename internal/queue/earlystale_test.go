package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// earlyStaleFixture is a shadow server that heard primary hub-a (database
// dbA) present rollback mark 7 with a discard of the copy on receipt
// named by m's org id, which it does not hold: the push that copy was
// for (its commit at hub-a raised the mark to 6) hung, was abandoned, and
// never reached this server's disk. partial: the discard named the one
// recipient x@ (a partial discard) rather than the whole copy.
func earlyStaleFixture(t *testing.T, partial bool) (*Manager, *Store, *Message) {
	t.Helper()
	return earlyStaleFixtureWith(t, partial, ManagerConfig{})
}

// earlyStaleFixtureWith is earlyStaleFixture with cfg (its Clock set here).
func earlyStaleFixtureWith(t *testing.T, partial bool, cfg ManagerConfig) (*Manager, *Store, *Message) {
	t.Helper()
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	cfg.Clock = clk
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), cfg)
	m := receiptCopy(s, "x@b.example")
	// The reply to XQUERYDISCARD presents the mark (marks.go): recorded
	// before the contact's commit, as the shadow manager's OnMark does.
	if _, _, err := q.ShadowMarkSeen("hub-a", "dbA", 7, q.ShadowMarkFloor("hub-a")); err != nil {
		t.Fatal(err)
	}
	line := m.OrgID
	if partial {
		line = PartialDiscard{ID: m.OrgID, Addr: "x@b.example"}.Wire()
	}
	if _, err := q.ShadowContact("hub-a", "dbA", []string{line}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(10 * time.Minute)
	return q, s, m
}

func pushMarked(t *testing.T, q *Manager, m *Message, mark uint64) bool {
	t.Helper()
	res, err := q.SubmitShadowCopiesMarked(context.Background(), []ShadowCopy{{M: m, Body: MemBody([]byte(body))}}, "hub-a", "127.0.0.1:25", "dbA", mark)
	if err != nil || res[0].Err != nil {
		t.Fatalf("push: %+v, %v", res, err)
	}
	return res[0].Stored
}

// SR-17, rt19f F1's other side: an early discard kept for a copy on
// receipt that never came (its push abandoned) must not swallow a copy
// the primary pushes later under the same org id — a copy made again
// after the holder named instead was lost. The primary reads the 250 as
// "kept", names this server, and believes in a copy that does not
// exist: losing the primary then loses the acknowledged message. A push
// whose commit came after the mark presented with the discard (9 > 7)
// is a new copy; the stale early discard goes and the copy is kept.
func TestStaleEarlyDiscardSparesLaterPush(t *testing.T) {
	for _, partial := range []bool{false, true} {
		q, _, m := earlyStaleFixture(t, partial)
		if !pushMarked(t, q, m, 9) {
			t.Fatalf("partial %v: a copy pushed after the discard (mark 9 > 7) was not kept: a stale early discard swallowed it", partial)
		}
		got, err := q.Message(m.ID)
		if err != nil || got.State != Shadow || len(got.Rcpts) != 1 || got.Rcpts[0].Status != Shadowed {
			t.Fatalf("partial %v: copy = %+v, %v; want x@ shadowed", partial, got, err)
		}
		// The stale entry went with that push: it settles nothing later
		// (the primary's discard of the new copy still does).
		if n, err := q.ShadowContact("hub-a", "dbA", []string{m.OrgID}); err != nil || n.Discarded != 1 {
			t.Fatalf("partial %v: the new copy's discard: %+v, %v", partial, n, err)
		}
	}
}

// The push the discard was for — its commit at the primary came before
// the discard, so its mark is at most the one presented with it — is
// still not kept when it reaches the disk after the discard (rt19f F1):
// the primary named another server and owes this one nothing.
func TestEarlyDiscardStillSwallowsItsOwnPush(t *testing.T) {
	for _, partial := range []bool{false, true} {
		q, _, m := earlyStaleFixture(t, partial)
		if pushMarked(t, q, m, 6) {
			t.Fatalf("partial %v: the abandoned push (mark 6 ≤ 7) was kept after its discard", partial)
		}
		if got, _ := q.Message(m.ID); got != nil {
			t.Fatalf("partial %v: copy stored although its discard came first: %+v", partial, got)
		}
	}
	// A push without a mark (a primary below shadow verb version 7)
	// cannot be placed: the early discard applies, as before.
	q, _, m := earlyStaleFixture(t, false)
	if stored, err := q.SubmitShadowCopy(context.Background(), m, []byte(body), "hub-a", "127.0.0.1:25", "dbA"); err != nil || stored {
		t.Fatalf("unmarked push: stored %v, %v; want not stored", stored, err)
	}
}

// SR-7: an early discard kept when hub-a presented its database id dbA
// without a rollback mark (a peer of shadow verbs 10) is of dbA's copy.
// A copy pushed later by another database of hub-a (it lost dbA) is a
// new one: kept, not taken by that discard.
func TestEarlyDiscardWithoutMarkSparesAnotherDatabase(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	m := receiptCopy(s, "x@b.example")
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.putPrimaryMark("hub-a", "dbA", 0) }); err != nil {
		t.Fatal(err)
	}
	if _, err := q.ShadowContact("hub-a", "dbA", []string{m.OrgID}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(10 * time.Minute)
	res, err := q.SubmitShadowCopiesMarked(context.Background(), []ShadowCopy{{M: m, Body: MemBody([]byte(body))}}, "hub-a", "127.0.0.1:25", "dbB", 3)
	if err != nil || res[0].Err != nil {
		t.Fatalf("push: %+v, %v", res, err)
	}
	if !res[0].Stored {
		t.Fatal("a copy pushed by hub-a's new database dbB was taken by dbA's early discard: answered 250, not kept")
	}
}
