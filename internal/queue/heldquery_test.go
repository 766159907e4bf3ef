package queue

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"umbra/internal/clock"
)

// The primary's answer to XQUERYHELD: it still needs a shadow server's
// copy exactly while a record naming that server and id has a recipient
// pending. A finished record kept for other reasons, a record of another
// shadow server, a DSN that owes the discard and an unknown id are told
// apart as the rule says.
func TestShadowHeldAnswersByPendingRecords(t *testing.T) {
	s := openTest(t)
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{})
	put := func(server, sid string, st RcptStatus) {
		m := msg(s, "a@example.org", "x@example.test")
		m.State, m.ShadowServer, m.ShadowID = Ready, server, sid
		m.Rcpts[0].Status = st
		if st.Done() {
			m.State = Shadow
			m.Rcpts[0].Primary, m.Rcpts[0].ShadowID = "hub-n", "n1"
		}
		if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
			t.Fatal(err)
		}
	}
	put("S", "pending-1", Pending)  // still to deliver: held
	put("S", "relayed-1", Shadowed) // handed on in a shadow session: done (its discard was prepared)
	put("T", "other-1", Pending)    // another shadow server's copy
	put("S", "dsn-1", Pending)      // a failure DSN owing the discard (pending until it leaves)
	want := []string{"relayed-1", "other-1", "unknown-1"}
	for _, chunk := range []int{5000, 1, 2, 3} { // one read transaction, and several
		heldScanChunk = chunk
		done, err := q.ShadowHeld("S", []string{"pending-1", "relayed-1", "other-1", "unknown-1", "dsn-1"})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(done, want) {
			t.Fatalf("chunks of %d: done = %v, want %v", chunk, done, want)
		}
	}
	heldScanChunk = 5000
}

// The shadow server's side: the copies asked about are those held for
// the primary (Shadowed at it) older than the cut-off, each shadow id
// once, in batches that resume where the last one stopped.
func TestShadowCopiesHeldListsOldCopies(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	var old []string
	for i := 0; i < 5; i++ {
		m := receiptCopy(s, "x@b.example", "y@b.example")
		if _, err := q.SubmitShadowCopy(context.Background(), m, []byte(body), "hub-a", "127.0.0.1:25", "dbA"); err != nil {
			t.Fatal(err)
		}
		old = append(old, m.OrgID)
	}
	clk.Advance(2 * HeldQueryAge)
	young := receiptCopy(s, "z@b.example")
	if _, err := q.SubmitShadowCopy(context.Background(), young, []byte(body), "hub-a", "127.0.0.1:25", "dbA"); err != nil {
		t.Fatal(err)
	}
	other := receiptCopy(s, "z@b.example")
	if _, err := q.SubmitShadowCopy(context.Background(), other, []byte(body), "hub-b", "127.0.0.2:25", "dbB"); err != nil {
		t.Fatal(err)
	}
	cutoff := clk.Now().Add(-HeldQueryAge)
	var got []string
	var after ID
	for i := 0; i < 10; i++ {
		ids, next, err := q.ShadowCopiesHeld("hub-a", cutoff, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ids...)
		if next == 0 {
			break
		}
		after = next
	}
	if !slices.Equal(got, old) {
		t.Fatalf("asked about %v, want the old copies %v", got, old)
	}
}

// F1: a discard notification sent again after the shadow server
// restarted (it was killed before the drop committed, so the primary
// still had it) matches the stored copy and drops it — a copy on receipt
// named by its org id and a relayed copy named by its shadow id alike.
func TestDiscardSentAgainAfterRestartDropsCopy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	onReceipt := receiptCopy(s, "x@b.example")
	if stored, err := q.SubmitShadowCopy(context.Background(), onReceipt, []byte(body), "hub-b", "127.0.0.2:25", "dbB"); err != nil || !stored {
		t.Fatalf("copy on receipt: %v %v", stored, err)
	}
	relayed := msg(s, "a@example.org", "y@b.example")
	sid := relayed.ID.String() + "-b"
	relayed.State = Shadow
	relayed.Rcpts[0].Status, relayed.Rcpts[0].Primary, relayed.Rcpts[0].PrimaryAddr, relayed.Rcpts[0].ShadowID = Shadowed, "hub-b", "127.0.0.2:25", sid
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(relayed, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	s.Close() // killed before the discards it read committed

	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q = NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	if _, _, err := q.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	res, err := q.ShadowContact("hub-b", "dbB", []string{onReceipt.OrgID, sid})
	if err != nil || res.Discarded != 2 {
		t.Fatalf("the notifications sent again: %+v, %v; want 2 discarded", res, err)
	}
	for _, id := range []ID{onReceipt.ID, relayed.ID} {
		if got, _ := q.Message(id); got != nil {
			t.Fatalf("copy %s still held after its discard: %+v", id, got)
		}
	}
}
