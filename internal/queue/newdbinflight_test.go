package queue

import (
	"context"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-7, SR-3: a primary back with a new database that finishes the copy
// this server's attempt is making there — its discard arrives while the
// attempt is still in delivery here — settles that copy at the attempt's
// commit, as for any copy, also when the message has a recipient taken
// over under the old database. Dropped, the copy stayed shadowed for a
// database that had forgotten its notification: a second delivery at
// the primary's next failure.
func TestSR7NewDatabaseDiscardDuringAttemptSettlesCopyMadeUnderIt(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var mu sync.Mutex
	phase := 1
	inDelivery, release := make(chan struct{}), make(chan struct{})
	d := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		mu.Lock()
		p := phase
		mu.Unlock()
		if p == 2 {
			close(inDelivery)
			<-release
		}
		return mixedDatabaseResults(m, rcpts, p)
	})
	q, ctx := startManager(t, s, d, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Hour}})
	m := msg(s, "a@example.org", "x@b.example", "y@b.example")
	m.Arrived = clk.Now()
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the shadow copy", func() bool { got, _ := q.Message(m.ID); return got != nil && got.State == Shadow })
	mu.Lock()
	phase = 2
	mu.Unlock()
	if res, err := q.ShadowContact("hub-b", "db2", nil); err != nil || res.TakenOver != 1 {
		t.Fatalf("takeover at the new database id: %+v %v", res, err)
	}
	<-inDelivery
	// db2 delivered x already and hands its discard of the copy made
	// against it, before the attempt's results are committed here.
	if _, err := q.ShadowContact("hub-b", "db2", []string{m.ID.String() + "-c"}); err != nil {
		t.Fatal(err)
	}
	close(release)
	waitFor(t, "the attempt's commit", func() bool {
		got, _ := q.Message(m.ID)
		return got != nil && got.State != Active && got.Rcpts[1].Status == Pending
	})
	got, _ := q.Message(m.ID)
	if x := got.Rcpts[0]; x.Status != Relayed {
		t.Errorf("db2's discard of the copy made against it, during the attempt, did not settle it: x %+v", x)
	}
	if y := got.Rcpts[1]; y.Status != Pending || y.ShadowID != m.ID.String()+"-b" {
		t.Errorf("the copy taken over under db1 was touched: y %+v", y)
	}
}
