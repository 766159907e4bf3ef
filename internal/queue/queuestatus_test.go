package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// rt17c F3: queue list's status and next retry are true at any count. A
// queue of more messages than one scan reads (nextRetryScan), nearly all
// suspended one by one and a few waiting for their retry after them,
// is "retry" with those few's next retry, as the same queue of a few
// messages is — not "ready" with none, because the scan read only
// suspended records.
func TestQueueStatusTrueBeyondScan(t *testing.T) {
	s := openTest(t)
	t0 := time.Unix(1_700_000_000, 0)
	clk := clock.NewFake(t0)
	const name = "site:siteb"
	next := t0.Add(4 * time.Minute)
	put := func(n int, st State) {
		if err := s.Update(context.Background(), func(tx *Tx) error {
			for range n {
				m := msg(s, "a@example.org", "x@b.test")
				m.Arrived = t0.Add(-time.Minute)
				m.Rcpts[0].Queue = name
				m.Rcpts[0].LastReply = "451 4.4.1 connect to mx.b.test: connection refused"
				m.State, m.Attempts, m.NextAttempt = st, 1, next
				if err := tx.PutNew(m, []byte(body)); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	put(nextRetryScan+50, Suspended)
	put(5, Ready) // after the suspended ones in the queue's order (newer ids)
	q := NewManager(s, nil, ManagerConfig{MaxActive: 100, Clock: clk})
	qs, err := q.Queues()
	if err != nil {
		t.Fatal(err)
	}
	for _, qi := range qs {
		if qi.Name != name {
			continue
		}
		if qi.Status != "retry" || !qi.NextRetry.Equal(next) || qi.ByState["retry"] != 5 {
			t.Fatalf("queue %s: status %q, next retry %v, by state %v; want retry, %v, 5 retry", name, qi.Status, qi.NextRetry, qi.ByState, next)
		}
		return
	}
	t.Fatalf("queue %s not listed: %+v", name, qs)
}
