package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-3, SR-4: a primary that finishes one recipient of the copy this
// server's attempt is making there — its partial discard arrives while
// the attempt is still in delivery here — settles that recipient at the
// attempt's commit, as a full discard is kept for it (applyEarlyDiscards).
// Dropped, the primary forgot it and the recipient stayed shadowed: sent
// a second time if the primary fails before it finishes the others.
func TestSR3PartialDiscardDuringAttemptSettlesCopyItMakes(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	inDelivery, release := make(chan struct{}), make(chan struct{})
	d := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		close(inDelivery)
		<-release
		var out []Result
		for _, i := range rcpts {
			out = append(out, Result{Rcpt: i, Outcome: ShadowedOK, Primary: "hub-b", PrimaryAddr: "127.0.0.2:25",
				ShadowID: m.ID.String() + "-b", PrimaryDB: "db1", Reply: "250 queued"})
		}
		return out
	})
	q, ctx := startManager(t, s, d, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Hour}})
	m := msg(s, "a@example.org", "x@b.example", "y@b.example")
	m.Arrived = clk.Now()
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	<-inDelivery
	if _, err := q.ShadowContact("hub-b", "db1", []string{m.ID.String() + "-b" + PartialDiscardSep + "x@b.example"}); err != nil {
		t.Fatal(err)
	}
	close(release)
	waitFor(t, "the attempt's commit", func() bool {
		got, _ := q.Message(m.ID)
		return got != nil && got.State != Active && got.Rcpts[1].Status == Shadowed
	})
	got, _ := q.Message(m.ID)
	if x := got.Rcpts[0]; x.Status != Relayed {
		t.Errorf("the primary's partial discard of x, during the attempt, did not settle it: x %+v", x)
	}
	if y := got.Rcpts[1]; y.Status != Shadowed {
		t.Errorf("y, not finished by the primary, was settled: %+v", y)
	}
}
