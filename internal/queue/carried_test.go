package queue

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The crash-duplicate window (SR-8, SR-11): this hub holds a message,
// received from hubA in a shadow session (hubA keeps copy 0001-aa), and
// still owes its recipient (deferred here). hubA died before it had the
// discard of an earlier hop's copy; that copy, taken over, comes here
// relayed by hubB in a shadow session under another id (hubB keeps copy
// 0002-bb), with the same org id and recipient. It merges into the
// original — delivered once — and hubB's copy is carried by the
// original: not discarded while the original still owes the recipient
// (the message is never on this disk only), and owed its discard in the
// commit that ends the original, with hubA's.
func TestTakenOverCopyUnderAnotherIDMergesAndIsCarried(t *testing.T) {
	s := openTest(t)
	var mu sync.Mutex
	deliver := false
	sent := 0
	q := NewManager(s, DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		mu.Lock()
		defer mu.Unlock()
		var out []Result
		for _, i := range rcpts {
			if deliver {
				sent++
				out = append(out, Result{Rcpt: i, Outcome: RelayedOK, Reply: "250 ok"})
			} else {
				out = append(out, Result{Rcpt: i, Outcome: Deferred, Reply: "451 4.4.1 later"})
			}
		}
		return out
	}), ManagerConfig{RetrySchedule: []time.Duration{time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	recv := func(n int) []byte {
		return []byte(strings.Repeat("Received: from x by y; Mon, 30 Nov 2026 15:00:00 +0000\r\n", n) + body)
	}
	owed := func(server string) []string {
		var ids []string
		if err := s.View(func(tx *Tx) error { ids = tx.Discards(server, 100); return nil }); err != nil {
			t.Fatal(err)
		}
		return ids
	}
	org := "0123456789abcdef0123456789abcdef"
	orig := msg(s, "a@example.org", "b@remote.example")
	orig.OrgID, orig.ShadowServer, orig.ShadowID = org, "hubA", "0001-aa"
	if err := q.Submit(ctx, orig, recv(1)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the original's first attempt", func() bool {
		m, err := q.Message(orig.ID)
		return err == nil && m.State == Ready && m.Attempts > 0
	})
	back := msg(s, "a@example.org", "B@Remote.Example")
	back.OrgID, back.ShadowServer, back.ShadowID = org, "hubB", "0002-bb"
	if err := q.Submit(ctx, back, recv(3)); err != nil {
		t.Fatal(err)
	}
	if got, err := q.Message(back.ID); err == nil {
		t.Fatalf("the taken-over copy was queued beside the original: %+v", got.Rcpts)
	}
	if ids := owed("hubB"); len(ids) != 0 {
		t.Fatalf("hubB's copy discarded while the original still owes its recipient: %q", ids)
	}
	// hubB asking whether its copy is still needed (XQUERYHELD) hears
	// "held" while the original carries it.
	if done, err := q.ShadowHeld("hubB", []string{"0002-bb"}); err != nil || len(done) != 0 {
		t.Fatalf("XQUERYHELD for the carried copy answered done %q (%v); want held", done, err)
	}
	mu.Lock()
	deliver = true
	mu.Unlock()
	if err := q.RetryMessage(ctx, orig.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the original delivered", func() bool { _, err := q.Message(orig.ID); return err != nil })
	if ids := owed("hubB"); !slices.Equal(ids, []string{"0002-bb"}) {
		t.Fatalf("hubB owed %q after the original ended, want its copy 0002-bb", ids)
	}
	if done, err := q.ShadowHeld("hubB", []string{"0002-bb"}); err != nil || !slices.Equal(done, []string{"0002-bb"}) {
		t.Fatalf("XQUERYHELD after the original ended: %q (%v); want done", done, err)
	}
	if ids := owed("hubA"); !slices.Equal(ids, []string{"0001-aa"}) {
		t.Fatalf("hubA owed %q after the original ended, want 0001-aa", ids)
	}
	mu.Lock()
	defer mu.Unlock()
	if sent != 1 {
		t.Fatalf("the recipient was sent %d times, want once", sent)
	}
}

// SR-4, SR-11: a carried copy is settled recipient by recipient, as the
// plain path settles a copy (partial discards): the original delivers
// one recipient and defers another; the carried copy's sender (hubB) is
// owed a partial discard for the delivered one in that commit, nothing
// for the other, and the full discard when the original ends — as hubA,
// the original's own shadow server, is.
func TestCarriedCopySettledPerRecipient(t *testing.T) {
	s := openTest(t)
	var mu sync.Mutex
	done := map[string]bool{} // addresses delivered now
	q := NewManager(s, DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		mu.Lock()
		defer mu.Unlock()
		var out []Result
		for _, i := range rcpts {
			switch a := m.Rcpts[i].Addr; {
			case done[a]:
				out = append(out, Result{Rcpt: i, Outcome: RelayedOK, Reply: "250 ok"})
			case a == "gone@remote.example" && done["b1@remote.example"]:
				out = append(out, Result{Rcpt: i, Outcome: FailedPerm, Reply: "550 5.1.1 no such user"})
			default:
				out = append(out, Result{Rcpt: i, Outcome: Deferred, Reply: "451 4.4.1 later"})
			}
		}
		return out
	}), ManagerConfig{RetrySchedule: []time.Duration{time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	owed := func(server string) (full []string, partial []PartialDiscard) {
		t.Helper()
		if err := s.View(func(tx *Tx) error {
			full, partial = tx.Discards(server, 100), tx.PartialDiscards(server, 100)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return full, partial
	}
	org := "0123456789abcdef0123456789abcdef"
	rcpts := []string{"b1@remote.example", "b2@remote.example", "gone@remote.example"}
	orig := msg(s, "a@example.org", rcpts...)
	orig.OrgID, orig.ShadowServer, orig.ShadowID = org, "hubA", "0001-aa"
	if err := q.Submit(ctx, orig, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the original's first attempt", func() bool {
		m, err := q.Message(orig.ID)
		return err == nil && m.State == Ready && m.Attempts > 0
	})
	back := msg(s, "a@example.org", "B1@Remote.Example", "b2@remote.example", "gone@remote.example")
	back.OrgID, back.ShadowServer, back.ShadowID = org, "hubB", "0002-bb"
	if err := q.Submit(ctx, back, []byte(body)); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Message(back.ID); err == nil {
		t.Fatal("the taken-over copy was queued beside the original")
	}
	// b1 is delivered, gone fails for good, b2 is deferred again.
	mu.Lock()
	done["b1@remote.example"] = true
	mu.Unlock()
	if err := q.RetryMessage(ctx, orig.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the original's second attempt", func() bool {
		m, err := q.Message(orig.ID)
		return err == nil && m.State == Ready && m.Rcpts[0].Status != Pending
	})
	full, partial := owed("hubB")
	want := []PartialDiscard{{"0002-bb", "B1@Remote.Example"}, {"0002-bb", "gone@remote.example"}}
	if len(full) != 0 || !slices.Equal(partial, want) {
		t.Fatalf("hubB owed full %q, partial %q after b1 was delivered and gone failed; want partial %q (its own addresses) only", full, partial, want)
	}
	if afull, apartial := owed("hubA"); len(afull) != 0 || len(apartial) != 1 {
		t.Fatalf("hubA owed full %q, partial %q; want the partial discard for b1", afull, apartial)
	}
	// hubB asking still hears "held": the original still owes b2.
	if gone, err := q.ShadowHeld("hubB", []string{"0002-bb"}); err != nil || len(gone) != 0 {
		t.Fatalf("XQUERYHELD for the carried copy answered done %q (%v); want held", gone, err)
	}
	mu.Lock()
	done["b2@remote.example"] = true
	mu.Unlock()
	if err := q.RetryMessage(ctx, orig.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the original delivered", func() bool { _, err := q.Message(orig.ID); return err != nil })
	if full, partial := owed("hubB"); !slices.Equal(full, []string{"0002-bb"}) || len(partial) != 0 {
		t.Fatalf("hubB owed full %q, partial %q after the original ended; want the full discard of 0002-bb alone", full, partial)
	}
}

// An entry an older release wrote names no recipients: the copy stays
// carried whole until the original's end, whatever the original
// finishes before (no partial discard it cannot name).
func TestCarriedCopyOfAnOlderReleaseSettledWhole(t *testing.T) {
	s := openTest(t)
	m := msg(s, "a@example.org", "b1@remote.example", "b2@remote.example")
	m.OrgID, m.State, m.NextAttempt = "0123456789abcdef0123456789abcdef", Ready, time.Now().Add(time.Hour)
	ctx := context.Background()
	if err := s.Update(ctx, func(tx *Tx) error {
		if err := tx.Put(m); err != nil {
			return err
		}
		b := tx.tx.Bucket(bucketCarried)
		if err := b.Put(carriedByOriginal(m.ID, "hubB", "0002-bb"), nil); err != nil {
			return err
		}
		return b.Put(carriedByCopy("hubB", "0002-bb", m.ID), nil)
	}); err != nil {
		t.Fatal(err)
	}
	m.Rcpts[0].Status = Relayed
	if err := s.Update(ctx, func(tx *Tx) error { return tx.Put(m) }); err != nil {
		t.Fatal(err)
	}
	var full []string
	var partial []PartialDiscard
	held := false
	look := func() {
		if err := s.View(func(tx *Tx) error {
			full, partial = tx.Discards("hubB", 10), tx.PartialDiscards("hubB", 10)
			held = tx.carriedElsewhere(0, "hubB", "0002-bb")
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	look()
	if len(full) != 0 || len(partial) != 0 || !held {
		t.Fatalf("after a recipient finished: full %q, partial %q, carried %v; want nothing owed, still carried", full, partial, held)
	}
	if err := s.Update(ctx, func(tx *Tx) error { return tx.Delete(m.ID) }); err != nil {
		t.Fatal(err)
	}
	look()
	if !slices.Equal(full, []string{"0002-bb"}) || held {
		t.Fatalf("after the original's end: full %q, carried %v; want the full discard", full, held)
	}
}

// The per-address sibling rule of partial discards counts an original
// that carries the copy: a record here under the sender's copy id (r)
// that finishes x@ owes no partial discard for it while the original
// (o) still has x@ pending and carries the copy for it; o finishing x@
// then owes it, and its last carried recipient the full discard only
// when r no longer needs the copy.
func TestCarriedCopySiblingRule(t *testing.T) {
	s := openTest(t)
	const org, server, id = "0123456789abcdef0123456789abcdef", "hubB", "0002-bb"
	ctx := context.Background()
	o := msg(s, "a@example.org", "x@remote.example")
	o.OrgID, o.State, o.NextAttempt = org, Ready, time.Now().Add(time.Hour)
	r := msg(s, "a@example.org", "x@remote.example", "y@remote.example")
	r.OrgID, r.ShadowServer, r.ShadowID, r.State, r.NextAttempt = org, server, id, Ready, time.Now().Add(time.Hour)
	if err := s.Update(ctx, func(tx *Tx) error {
		if err := tx.Put(o); err != nil {
			return err
		}
		if err := tx.Put(r); err != nil {
			return err
		}
		return tx.carryCopy(o.ID, server, id, "x@remote.example", "x@remote.example")
	}); err != nil {
		t.Fatal(err)
	}
	owed := func() (full []string, partial []PartialDiscard) {
		t.Helper()
		_ = s.View(func(tx *Tx) error {
			full, partial = tx.Discards(server, 10), tx.PartialDiscards(server, 10)
			return nil
		})
		return full, partial
	}
	// r finishes x@ (a discard settles it, say): o still owes x@.
	if err := s.Update(ctx, func(tx *Tx) error {
		before := statusesNow(r)
		r.Rcpts[0].Status = Relayed
		if err := tx.copySettled(r, before, time.Now()); err != nil {
			return err
		}
		return tx.Put(r)
	}); err != nil {
		t.Fatal(err)
	}
	if full, partial := owed(); len(full)+len(partial) != 0 {
		t.Fatalf("r finished x@ while o carries it pending: owed full %q, partial %q; want nothing", full, partial)
	}
	// o delivers x@: the partial discard for it; r still needs the copy
	// for y@, so no full discard.
	o.Rcpts[0].Status = Relayed
	if err := s.Update(ctx, func(tx *Tx) error { return tx.Put(o) }); err != nil {
		t.Fatal(err)
	}
	if full, partial := owed(); len(full) != 0 || !slices.Equal(partial, []PartialDiscard{{id, "x@remote.example"}}) {
		t.Fatalf("o delivered x@: owed full %q, partial %q; want the partial discard for x@ alone", full, partial)
	}
}
