package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// OPS-42 item 6: the quarantine's cached totals (the bound's check) and
// its OUT/MIN (queue list) were kept up to date by the release, the
// deletion and the expiry each calling noteQuarantine; a quarantined
// record leaving by any other commit left the totals high — quarantined
// mail refused with 452 for up to a minute though the quarantine had
// room — and the leave uncounted. Every commit that takes a record out
// of the quarantine now updates them (Tx.Put, Tx.Delete), once.
func TestOPS42QuarantineLeftByAnyCommitUpdatesTheTotals(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	d := newScripted(func(string, int) (Outcome, string) { return Deferred, "451 4.4.1 later" })
	q := NewManager(s, d, ManagerConfig{Clock: clk, Hostname: "mx.test", RetrySchedule: []time.Duration{time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	q.SetQuarantineBound(0, 2) // two messages fill it
	spam := func() *Message {
		m := msg(s, "a@example.org", "x@example.net")
		m.Quarantine = "spam score 14.2"
		return m
	}
	// keep stays in the quarantine: queue list lists it, with its rates.
	keep, held := spam(), spam()
	for _, m := range []*Message{keep, held} {
		if err := q.Submit(ctx, m, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Submit(ctx, spam(), []byte(body)); err == nil {
		t.Fatal("a full quarantine took a second message")
	}
	out := func() int {
		qs, _ := q.Queues()
		for _, qi := range qs {
			if qi.Name == QueueQuarantine {
				return qi.OutgoingRate
			}
		}
		return 0
	}
	// A commit other than the release, the deletion and the expiry
	// takes the record out.
	if err := s.Update(ctx, func(tx *Tx) error { return tx.Delete(held.ID) }); err != nil {
		t.Fatal(err)
	}
	if n, _ := q.QuarantineStats(); n != 1 {
		t.Fatalf("the quarantine holds %d after the removal", n)
	}
	if err := q.Submit(ctx, spam(), []byte(body)); err != nil {
		t.Errorf("a quarantine emptied by another commit refused a message: %v", err)
	}
	if got := out(); got != 1 {
		t.Errorf("OUT/MIN of the quarantine %d after one left, want 1", got)
	}
	// The deletion counts its leave once.
	second := spam()
	q.SetQuarantineBound(0, 0)
	if err := q.Submit(ctx, second, []byte(body)); err != nil {
		t.Fatal(err)
	}
	if err := q.DeleteQuarantined(ctx, second.ID, false); err != nil {
		t.Fatal(err)
	}
	if got := out(); got != 2 {
		t.Errorf("OUT/MIN of the quarantine %d after two left, want 2", got)
	}
}
