package queue

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"umbra/internal/clock"
)

// An operator's hold settles the message's shadow copy (hold.go): the
// commit that suspends it writes the discard for its shadow server, and
// the answer to XQUERYHELD agrees (done). A message without a shadow
// copy writes none; suspending again writes nothing new; a resumed
// message is needed by nobody else either.
func TestHoldSettlesShadowCopy(t *testing.T) {
	s := openTest(t)
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{})
	ctx := context.Background()
	put := func(server, sid string) *Message {
		m := msg(s, "a@example.org", "x@example.test")
		m.State, m.ShadowServer, m.ShadowID = Ready, server, sid
		if err := s.Update(ctx, func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
			t.Fatal(err)
		}
		return m
	}
	held, alone := put("S", "held-1"), put("", "")
	put("S", "kept-1")
	discards := func() []string {
		ids, _ := q.Discards("S", 100)
		return ids
	}
	if d := discards(); len(d) != 0 {
		t.Fatalf("discards before the hold: %v", d)
	}
	for _, m := range []*Message{held, alone} {
		if err := q.SuspendMessage(ctx, m.ID); err != nil {
			t.Fatal(err)
		}
	}
	if d := discards(); !slices.Equal(d, []string{"held-1"}) {
		t.Fatalf("discards after the hold = %v, want [held-1]", d)
	}
	done, err := q.ShadowHeld("S", []string{"held-1", "kept-1"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(done, []string{"held-1"}) {
		t.Fatalf("XQUERYHELD done = %v, want [held-1]: the held message's copy is settled, the other one is needed", done)
	}
	got, err := q.Message(held.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != Suspended || got.ShadowServer != "S" || got.ShadowID != "held-1" {
		t.Fatalf("held record: state %v, shadow %q/%q", got.State, got.ShadowServer, got.ShadowID)
	}
}

// A copy its shadow server took over before the hold's discard reached
// it (the primary died first) comes back to the primary as a takeover
// resubmission: it merges into the held original (its recipient is
// pending) instead of being delivered past the hold, and the sender's
// copy is discarded in that commit — the original's own discard went
// with the hold, so nothing else would release it.
func TestHoldMergesTakenOverCopy(t *testing.T) {
	s := openTest(t)
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{})
	ctx := context.Background()
	orig := msg(s, "a@example.org", "x@example.test")
	orig.State, orig.ShadowServer, orig.ShadowID = Ready, "S", "s-1"
	if err := s.Update(ctx, func(tx *Tx) error { return tx.PutNew(orig, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	if err := q.SuspendMessage(ctx, orig.ID); err != nil {
		t.Fatal(err)
	}
	// The hold's discard was fetched too late; the resubmitted copy
	// names the copy the shadow server keeps again under the same id
	// (the record it relayed here in the first place).
	ids, ack := q.Discards("S", 100)
	ack()
	if !slices.Equal(ids, []string{"s-1"}) {
		t.Fatalf("discards = %v", ids)
	}
	cp := msg(s, "a@example.org", "x@example.test")
	cp.OrgID, cp.ShadowServer, cp.ShadowID = orig.OrgID, "S", "s-1"
	if err := q.Submit(ctx, cp, []byte(body)); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Message(cp.ID); err == nil {
		t.Fatalf("the taken-over copy was queued beside the held original")
	}
	if ids, _ := q.Discards("S", 100); !slices.Equal(ids, []string{"s-1"}) {
		t.Fatalf("discards after the merge = %v, want [s-1]: the sender's copy must go now", ids)
	}
	got, err := q.Message(orig.ID)
	if err != nil || got.State != Suspended {
		t.Fatalf("original: %v, %v", got, err)
	}
}

// Copies a restore brought back are asked about whatever their age
// (heldquery.go): the Open of a restored backup records the last message
// it holds; a young copy up to it is listed for XQUERYHELD and counts as
// waiting, a copy stored after the restore keeps the age rule.
func TestRestoredShadowCopiesAskedAtOnce(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "queue.db")
	s, err := Open(live, Options{})
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Now())
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	old := receiptCopy(s, "x@b.example")
	if _, err := q.SubmitShadowCopy(context.Background(), old, []byte(body), "hub-a", "127.0.0.1:25", "dbA"); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(dir, "backup.db")
	if _, err := s.WriteBackup(backup); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := os.Rename(backup, live); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(live, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q = NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	fresh := receiptCopy(s, "y@b.example")
	if _, err := q.SubmitShadowCopy(context.Background(), fresh, []byte(body), "hub-a", "127.0.0.1:25", "dbA"); err != nil {
		t.Fatal(err)
	}
	ids, _, err := q.ShadowCopiesToAsk("hub-a", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, []string{old.OrgID}) {
		t.Fatalf("asked about %v, want the restored copy %s only", ids, old.OrgID)
	}
	if !q.RestoredCopiesWaiting("hub-a") || q.RestoredCopiesWaiting("hub-b") {
		t.Fatalf("restored copies waiting: hub-a %v, hub-b %v", q.RestoredCopiesWaiting("hub-a"), q.RestoredCopiesWaiting("hub-b"))
	}
	restoredUpTo := func() (id ID) {
		_ = s.View(func(tx *Tx) error { id = tx.restoredUpTo(); return nil })
		return id
	}
	if restoredUpTo() == 0 {
		t.Fatal("the restore's mark went while a young restored copy is held")
	}
	clk.Advance(2 * HeldQueryAge) // both old now: the age rule covers them
	if q.RestoredCopiesWaiting("hub-a") {
		t.Fatalf("a restored copy older than HeldQueryAge still counts as waiting")
	}
	// mendq19 4: nothing restored is left to ask about early: the mark
	// goes, and the shadow queues are not read for it again.
	if id := restoredUpTo(); id != 0 {
		t.Fatalf("restored_upto is still %s with no young restored copy left", id)
	}
	if ids, _, err := q.ShadowCopiesToAsk("hub-a", 0, 100); err != nil || len(ids) != 2 {
		t.Fatalf("asked about %v (%v); want both copies, old enough now", ids, err)
	}
}
