package queue

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// rr35 opsshadow: a partial discard is written for every recipient a
// commit at the primary settles while its copy elsewhere holds it
// (copySettled), not only the delivered or relayed ones and the failures
// reported: a quarantine that absorbs a record's recipients
// (settleCopiesForQuarantine: "merged into quarantined message …") gives
// them one too. The holder's words for such a recipient must not say it
// was "delivered or reported there": it was neither.
func TestSRPartialDiscardOfQuarantinedRecipientClaimsNoDeliveryOrReport(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	sS, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := newCopyPrimary(t, clk)
	ctx, cancel := context.WithCancel(context.Background())
	p.q.Start(ctx)
	ctxS, cancelS := context.WithCancel(ctx)
	dS := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		return p.relay(t, ctx, m, rcpts, "hub-b")
	})
	qS := NewManager(sS, dS, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Minute}})
	qS.Start(ctxS)
	m := msg(sS, "s@example.org", "a@c.example", "b@c.example", "c@c.example")
	m.Arrived = clk.Now()
	if err := qS.Submit(ctxS, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "hub-a's copy", func() bool {
		got, err := qS.Message(m.ID)
		return err == nil && got.State == Shadow
	})
	waitFor(t, "hub-b: a@ relayed, b@ and c@ deferred", func() bool {
		return !p.pendingAt(t, "a@c.example") && p.pendingAt(t, "b@c.example") && p.pendingAt(t, "c@c.example")
	})
	cancelS()
	qS.Wait()
	cancel()
	p.q.Wait()
	p.fetchPartial(t, qS, "hub-b") // a@: relayed there

	// hub-b's quarantine absorbs b@ of its record, as
	// settleCopiesForQuarantine does: its copy on hub-a is owed b@.
	if err := p.s.Update(context.Background(), func(tx *Tx) error {
		for _, o := range messages(t, p.s) {
			o, err := tx.Get(o.ID)
			if err != nil || o.ShadowServer == "" {
				continue
			}
			before := statusesNow(o)
			for i := range o.Rcpts {
				if o.Rcpts[i].Addr == "b@c.example" {
					o.Rcpts[i].Status, o.Rcpts[i].LastReply = Relayed, "merged into quarantined message 42"
				}
			}
			if err := tx.copySettled(o, before, tx.now()); err != nil {
				return err
			}
			return tx.Put(o)
		}
		t.Fatal("no record of hub-b names its copy")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	lines := p.fetchPartial(t, qS, "hub-b")
	if len(lines) != 1 || !strings.HasSuffix(lines[0], "RCPT=b@c.example") {
		t.Fatalf("partial discards %q, want b@'s", lines)
	}
	got, err := qS.Message(m.ID)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range got.Rcpts {
		if r.Addr != "b@c.example" {
			continue
		}
		if shown := ShownReply(got, i); strings.Contains(shown, "delivered or reported") {
			t.Errorf("b@, in hub-b's quarantine, shown on hub-a as %q: it was neither delivered nor reported there", shown)
		}
	}
}
