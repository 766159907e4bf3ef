package queue

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/clock"
)

// relayAs is copyPrimary.relay with the shadow id a shadow server of
// version 8 (perTx) or below gives the transaction.
func (p *copyPrimary) relayAs(t *testing.T, ctx context.Context, m *Message, rcpts []int, perTx bool) []Result {
	return p.relayID(t, ctx, m, rcpts, RelayShadowID(m, rcpts, "hub-b", "db-b", perTx), "hub-b")
}

// receiptCopyTakenOver sets up the primary hub-b holding a message it
// received with rcpts and pushed on receipt to hub-a, and hub-a (whose
// deliverer is deliver) holding that copy, taken over (hub-b seemed
// gone, came back with its old database).
func receiptCopyTakenOver(t *testing.T, ctx context.Context, clk *clock.Fake, p *copyPrimary,
	deliver func(ctx context.Context, m *Message, rcpts []int) []Result, rcpts ...string) (*Manager, *Store, *Message) {
	t.Helper()
	const org = "0123456789abcdef0123456789abcdef"
	o := msg(p.s, "s@example.org", rcpts...)
	o.OrgID, o.ShadowServer, o.ShadowID, o.Arrived = org, "hub-a", org, clk.Now()
	if err := p.q.Submit(ctx, o, []byte(body)); err != nil {
		t.Fatal(err)
	}
	sS := openTest(t)
	var on atomic.Bool
	dS := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rc []int) []Result {
		if !on.Load() {
			t.Error("hub-a delivered before the takeover")
		}
		return deliver(ctx, m, rc)
	})
	qS := NewManager(sS, dS, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Minute}})
	c := msg(sS, "s@example.org", rcpts...)
	c.OrgID, c.Arrived = org, clk.Now()
	if stored, err := qS.SubmitShadowCopy(ctx, c, []byte(body), "hub-b", "127.0.0.2:25", "db-b"); err != nil || !stored {
		t.Fatalf("copy on receipt: %v, %v", stored, err)
	}
	waitFor(t, "the original attempted at hub-b", func() bool {
		got, _ := p.q.Message(o.ID)
		return got != nil && got.State == Ready
	})
	on.Store(true)
	qS.Start(ctx)
	if n, err := qS.Takeover("hub-b", "test: the primary seemed gone"); err != nil || n != 1 {
		t.Fatalf("takeover: %d, %v", n, err)
	}
	qS.Kick()
	return qS, sS, o
}

// holds reports whether a record of s still holds addr: pending, or
// shadowed (a copy).
func holds(t *testing.T, s *Store, addr string) bool {
	for _, m := range messages(t, s) {
		for _, r := range m.Rcpts {
			if r.Addr == addr && (r.Status == Pending || r.Status == Shadowed) {
				return true
			}
		}
	}
	return false
}

// Suspect 1 (mixed versions): a shadow server below version 8 sends a
// taken-over copy on receipt back to its version-8 primary, which still
// holds the original undelivered. The copy's id (the relay's, one per
// message and primary) is not the original's (the org id): merged, the
// copy's discard would be owed at once and the shadow server's copy
// dropped while the original still needs it — the message on one disk.
func TestReceiptCopySentBackByVersion7KeepsItsCopy(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	p := newCopyPrimary(t, clk)
	ctx, cancel := context.WithCancel(context.Background())
	var qS *Manager
	defer func() {
		cancel()
		if qS != nil {
			qS.Wait()
		}
		p.q.Wait()
	}()
	p.q.Start(ctx)
	var sent atomic.Bool
	qS, sS, o := receiptCopyTakenOver(t, ctx, clk, p, func(ctx context.Context, m *Message, rcpts []int) []Result {
		defer sent.Store(true)
		return p.relayAs(t, ctx, m, rcpts, false)
	}, "b@c.example")
	waitFor(t, "the taken-over copy sent back", func() bool {
		return sent.Load() && len(messages(t, sS)) == 1 && messages(t, sS)[0].State != Active
	})
	p.fetch(t, qS)
	if got, _ := p.q.Message(o.ID); got == nil || len(got.Pending()) == 0 {
		t.Fatal("the original should still wait at hub-b")
	}
	if !holds(t, sS, "b@c.example") {
		t.Fatal("hub-a dropped its copy while hub-b's original still needs it: the message is on one disk")
	}
}

// Suspect 2: a version-8 shadow server took over a copy on receipt and
// relayed one of its recipients back to the primary (an id of its own:
// a record there beside the original). That record's discard names its
// transaction; it must not settle the recipient still taken over under
// the org id, which the primary's original still owes.
func TestRelayDiscardSparesRestOfTakenOverReceiptCopy(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	p := newCopyPrimary(t, clk)
	ctx, cancel := context.WithCancel(context.Background())
	var qS *Manager
	defer func() {
		cancel()
		if qS != nil {
			qS.Wait()
		}
		p.q.Wait()
	}()
	p.q.Start(ctx)
	var sent atomic.Bool
	qS, sS, o := receiptCopyTakenOver(t, ctx, clk, p, func(ctx context.Context, m *Message, rcpts []int) []Result {
		defer sent.Store(true)
		var out []Result
		for _, i := range rcpts {
			if m.Rcpts[i].Addr == "a@c.example" {
				out = append(out, p.relayAs(t, ctx, m, []int{i}, true)...)
			} else {
				out = append(out, Result{Rcpt: i, Outcome: Deferred, NextHop: "hub-b", Reply: "451 4.4.1 later"})
			}
		}
		return out
	}, "a@c.example", "b@c.example")
	waitFor(t, "a@ sent back", func() bool {
		ms := messages(t, sS)
		return sent.Load() && len(ms) == 1 && ms[0].State != Active
	})
	waitFor(t, "the discard of the record a@ was sent back as", func() bool {
		ids, _ := p.q.Discards("hub-a", 100)
		return len(ids) > 0
	})
	p.fetch(t, qS)
	if got, _ := p.q.Message(o.ID); got == nil || got.Rcpts[1].Status.Done() {
		t.Fatal("the original should still owe b@ at hub-b")
	}
	if !holds(t, sS, "b@c.example") {
		t.Fatal("the discard of a@'s transaction settled b@, taken over from the copy on receipt the original still needs")
	}
}

// Suspect 3 (a primary rolled back below version 8): its records keep
// the ids named per transaction. A copy relayed to it as version 8,
// taken over here and sent back after the rollback, must keep the id it
// was taken over under: a primary below 8 merges a copy into its
// original whatever the id, and owes the copy's discard at once when the
// ids differ (its original's discard names the other) — the copy here
// dropped while the original still needs it.
func TestTakenOverCopyKeepsItsIDToPrimaryBelow8(t *testing.T) {
	s := openTest(t)
	m := msg(s, "s@example.org", "b@c.example", "d@c.example")
	x := RelayShadowID(m, []int{0, 1}, "hub-b", "", true)
	for i := range m.Rcpts {
		m.Rcpts[i].Primary, m.Rcpts[i].ShadowID = "hub-b", x // taken over: pending, its copy's primary and id
	}
	for _, perTx := range []bool{true, false} {
		if got := RelayShadowID(m, []int{0, 1}, "hub-b", "", perTx); got != x {
			t.Errorf("sent back (primary of version 8: %v): id %q, taken over under %q", perTx, got, x)
		}
	}
	if got := RelayShadowID(m, []int{0, 1}, "hub-c", "", false); got == x {
		t.Errorf("another primary got the id %q taken over from hub-b", got)
	}
}
