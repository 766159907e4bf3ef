package queue

import (
	"context"
	"slices"
	"testing"
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
