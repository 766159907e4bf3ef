package queue

import (
	"context"
	"os"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/orgid"
)

func receiptCopy(s *Store, rcpts ...string) *Message {
	m := msg(s, "a@example.org", rcpts...)
	m.OrgID = orgid.New()
	return m
}

// SR-17: a copy pushed by the primary that received the message is kept
// without delivery, shadowed at that primary, and the primary is watched
// (its shadowpeers record has its address and database id); the
// primary's discard, named by the org id, removes it.
func TestShadowCopyOnReceiptKeptUntilDiscard(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	delivered := 0
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result {
		delivered++
		return nil
	}), ManagerConfig{Clock: clk})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	m := receiptCopy(s, "x@b.example", "y@c.example")
	stored, err := q.SubmitShadowCopy(ctx, m, []byte(body), "hub-a", "127.0.0.1:25", "dbA")
	if err != nil || !stored {
		t.Fatalf("SubmitShadowCopy = %v, %v", stored, err)
	}
	got, err := q.Message(m.ID)
	if err != nil || got.State != Shadow {
		t.Fatalf("copy: %+v, %v; want state Shadow", got, err)
	}
	for _, r := range got.Rcpts {
		if r.Status != Shadowed || r.Primary != "hub-a" || r.ShadowID != m.OrgID {
			t.Fatalf("recipient %+v: want Shadowed at hub-a as %s", r, m.OrgID)
		}
	}
	peers, _ := q.ShadowPeers()
	if len(peers) != 1 || peers[0].Primary != "hub-a" || peers[0].DatabaseID != "dbA" || peers[0].Addr != "127.0.0.1:25" {
		t.Fatalf("peers = %+v; want hub-a at 127.0.0.1:25 with dbA", peers)
	}
	clk.Advance(time.Hour)
	q.Kick()
	if delivered != 0 {
		t.Fatalf("a shadow copy was handed to delivery %d times", delivered)
	}
	res, err := q.ShadowContact("hub-a", "dbA", []string{m.OrgID})
	if err != nil || res.Discarded != 1 {
		t.Fatalf("ShadowContact = %+v, %v; want 1 discarded", res, err)
	}
	if got, _ := q.Message(m.ID); got != nil {
		t.Fatalf("copy still queued after its discard: %+v", got)
	}
}

// A discard that reaches this server before the copy (the primary
// delivered the message while the transfer ran) means the copy is not
// kept when it arrives.
func TestShadowCopyOnReceiptDiscardBeforeCopy(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	m := receiptCopy(s, "x@b.example")
	if _, err := q.ShadowContact("hub-a", "dbA", []string{m.OrgID}); err != nil {
		t.Fatal(err)
	}
	stored, err := q.SubmitShadowCopy(context.Background(), m, []byte(body), "hub-a", "127.0.0.1:25", "dbA")
	if err != nil || stored {
		t.Fatalf("SubmitShadowCopy = %v, %v; want not stored", stored, err)
	}
	if got, _ := q.Message(m.ID); got != nil {
		t.Fatalf("copy stored although its discard came first: %+v", got)
	}
}

// SR-7 on the copy path: a primary that pushes a copy from a new
// transport database lost its queue; the copies of its old database are
// taken over in the same commit, the new copy is kept.
func TestShadowCopyOnReceiptNewDatabaseTakesOver(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	ctx := context.Background()
	old := receiptCopy(s, "x@b.example")
	if _, err := q.SubmitShadowCopy(ctx, old, []byte(body), "hub-a", "127.0.0.1:25", "dbA"); err != nil {
		t.Fatal(err)
	}
	m := receiptCopy(s, "y@b.example")
	if _, err := q.SubmitShadowCopy(ctx, m, []byte(body), "hub-a", "127.0.0.1:25", "dbA2"); err != nil {
		t.Fatal(err)
	}
	got, _ := q.Message(old.ID)
	if got == nil || got.State == Shadow || got.Rcpts[0].Status != Pending {
		t.Fatalf("old copy = %+v; want taken over (pending)", got)
	}
	if got, _ := q.Message(m.ID); got == nil || got.State != Shadow {
		t.Fatalf("new copy = %+v; want kept as shadow", got)
	}
}

// A copy without a valid org id cannot be named by the primary's discard:
// refused, never stored.
func TestShadowCopyOnReceiptNeedsOrgID(t *testing.T) {
	s := openTest(t)
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{})
	m := msg(s, "a@example.org", "x@b.example")
	m.OrgID = "nope"
	if _, err := q.SubmitShadowCopy(context.Background(), m, []byte(body), "hub-a", "", "dbA"); err != ErrBadCopy {
		t.Fatalf("err = %v; want ErrBadCopy", err)
	}
}

// A relayed copy of a message this server holds as a copy on receipt for
// another primary (hub-a copied it here on receipt, then relayed it via
// hub-x, which relays it here in a shadow session) is queued, not merged
// into the copy on receipt: hub-a's discard would remove both.
func TestRelayedCopyNotMergedIntoReceiptCopy(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	ctx := context.Background()
	cp := receiptCopy(s, "x@b.example")
	if _, err := q.SubmitShadowCopy(ctx, cp, []byte(body), "hub-a", "127.0.0.1:25", "dbA"); err != nil {
		t.Fatal(err)
	}
	relayed := msg(s, "a@example.org", "x@b.example")
	relayed.OrgID, relayed.ShadowServer, relayed.ShadowID = cp.OrgID, "hub-x", "77-x"
	if err := q.Submit(ctx, relayed, []byte(body)); err != nil {
		t.Fatal(err)
	}
	got, _ := q.Message(relayed.ID)
	if got == nil || len(got.Rcpts) != 1 {
		t.Fatalf("relayed copy = %+v; want it queued with its recipient", got)
	}
	if _, err := q.ShadowContact("hub-a", "dbA", []string{cp.OrgID}); err != nil {
		t.Fatal(err)
	}
	if got, _ := q.Message(relayed.ID); got == nil {
		t.Fatal("the relayed copy went with hub-a's discard of its copy on receipt")
	}
}

// A push repeated after its reply was lost is kept once, so that the
// primary's one discard removes it (no orphan copy to be taken over).
func TestShadowCopyOnReceiptRepeatedKeptOnce(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	ctx := context.Background()
	m := receiptCopy(s, "x@b.example")
	again := *m
	again.ID = s.NewID(clk.Now().Add(time.Second))
	again.Rcpts = append([]Recipient(nil), m.Rcpts...)
	for _, c := range []*Message{m, &again} {
		if stored, err := q.SubmitShadowCopy(ctx, c, []byte(body), "hub-a", "127.0.0.1:25", "dbA"); err != nil || !stored {
			t.Fatalf("SubmitShadowCopy = %v, %v", stored, err)
		}
	}
	if got, _ := q.Message(again.ID); got != nil {
		t.Fatalf("the repeated copy was stored a second time: %+v", got)
	}
	if _, err := q.ShadowContact("hub-a", "dbA", []string{m.OrgID}); err != nil {
		t.Fatal(err)
	}
	if got, _ := q.Message(m.ID); got != nil {
		t.Fatalf("copy left after the discard: %+v", got)
	}
}

// A primary that keeps pushing copies is still heartbeated: a push is not
// a contact (it brings no discards), so the stored last contact stays
// where the first copy put it.
func TestShadowCopyOnReceiptIsNotAContact(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	ctx := context.Background()
	first := clk.Now()
	for i := 0; i < 3; i++ {
		if _, err := q.SubmitShadowCopy(ctx, receiptCopy(s, "x@b.example"), []byte(body), "hub-a", "127.0.0.1:25", "dbA"); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Minute)
	}
	peers, _ := q.ShadowPeers()
	if len(peers) != 1 || !peers[0].LastContact.Equal(first) {
		t.Fatalf("peers = %+v; want hub-a last contacted at the first copy (%v)", peers, first)
	}
}

// A spooled copy on receipt is kept as a record naming its spool file
// (never read into memory); a copy that stores nothing (its discard came
// first, or it is a repeat of one kept) has its file removed after the
// commit, as SubmitBody does, so the caller can hand every file over.
func TestShadowCopyOnReceiptSpooled(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	ctx := context.Background()
	content := bigContent(1 << 20)
	kept := spooled(t, s, content)
	m := receiptCopy(s, "x@b.example")
	if stored, err := q.SubmitShadowCopyBody(ctx, m, kept, "hub-a", "127.0.0.1:25", "dbA"); err != nil || !stored {
		t.Fatalf("SubmitShadowCopyBody = %v, %v", stored, err)
	}
	err := s.View(func(tx *Tx) error {
		b, err := tx.BodyOf(m.ID)
		if err != nil {
			return err
		}
		if !b.Spooled() || b.Len() != int64(len(content)) || tx.SpoolRefs(b) != 1 {
			t.Errorf("stored copy: spooled %v, %d bytes, %d references; want its file named once", b.Spooled(), b.Len(), tx.SpoolRefs(b))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	again := *m
	again.ID = s.NewID(clk.Now().Add(time.Second))
	again.Rcpts = append([]Recipient(nil), m.Rcpts...)
	repeat := spooled(t, s, content)
	if stored, err := q.SubmitShadowCopyBody(ctx, &again, repeat, "hub-a", "127.0.0.1:25", "dbA"); err != nil || !stored {
		t.Fatalf("repeated copy: %v, %v", stored, err)
	}
	late := receiptCopy(s, "x@b.example")
	if _, err := q.ShadowContact("hub-a", "dbA", []string{late.OrgID}); err != nil {
		t.Fatal(err)
	}
	discarded := spooled(t, s, content)
	if stored, err := q.SubmitShadowCopyBody(ctx, late, discarded, "hub-a", "127.0.0.1:25", "dbA"); err != nil || stored {
		t.Fatalf("copy whose discard came first: %v, %v", stored, err)
	}
	for what, b := range map[string]Body{"repeated": repeat, "discarded": discarded} {
		p, _, _ := b.File()
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("the %s copy's spool file is left: %v", what, err)
		}
	}
	p, _, _ := kept.File()
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("the kept copy's spool file: %v", err)
	}
}

// A copy pushed by a primary whose heartbeats failed (here: as many as
// take its copies over) proves it alive: the failures are forgotten, so
// the copy is not taken over at the next failed heartbeat — only after
// the retry count of failures counted anew — and the push is still not
// a contact (the last contact stays; the next heartbeat is due a timeout
// after the push, so the takeover comes no earlier than timeout ×
// retries after it: alive.go).
func TestShadowCopyOnReceiptFromFailedPrimaryNotTakenOver(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	ctx := context.Background()
	first := clk.Now()
	if _, err := q.SubmitShadowCopy(ctx, receiptCopy(s, "x@b.example"), []byte(body), "hub-a", "127.0.0.1:25", "dbA"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		clk.Advance(20 * time.Second)
		if _, _, err := q.ShadowHeartbeatFailed("hub-a", clk.Now(), 0, 3, "refused"); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(time.Second)
	m := receiptCopy(s, "y@b.example")
	if _, err := q.SubmitShadowCopy(ctx, m, []byte(body), "hub-a", "127.0.0.1:25", "dbA"); err != nil {
		t.Fatal(err)
	}
	peers, _ := q.ShadowPeers()
	if len(peers) != 1 || peers[0].Failures != 0 || !peers[0].LastTry.Equal(clk.Now()) || !peers[0].LastContact.Equal(first) {
		t.Fatalf("peers = %+v; want hub-a without failures, last contacted at the first copy, the next heartbeat a timeout after the push", peers)
	}
	for i := 1; i <= 3; i++ {
		clk.Advance(20 * time.Second)
		failures, taken, err := q.ShadowHeartbeatFailed("hub-a", clk.Now(), 0, 3, "refused")
		if err != nil {
			t.Fatal(err)
		}
		got, _ := q.Message(m.ID)
		if held := got.Rcpts[0].Status == Shadowed; held != (i < 3) || failures != i || (taken > 0) != (i == 3) {
			t.Fatalf("failure %d: counted %d, taken %d, copy held %v", i, failures, taken, held)
		}
	}
}
