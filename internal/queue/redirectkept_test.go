package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// rt21c L4: a redirect leaves a message in delivery where it is (its
// attempt's results are written to it): the batch counts it, so that
// the command says how many stayed and to run it again after their
// attempt.
func TestRedirectCountsMessagesLeftInDelivery(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	q := NewManager(s, nil, ManagerConfig{Clock: clk})
	ctx := context.Background()
	var ids []ID
	for _, st := range []State{Ready, Active, Ready} {
		m := msg(s, "a@example.org", "x@ext.example")
		m.State, m.Arrived, m.NextAttempt = st, clk.Now(), clk.Now().Add(time.Hour)
		m.Rcpts[0].Queue = "smarthost:sink"
		if err := s.Update(ctx, func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	sel, err := q.QueueSelection("redirect", "smarthost:sink")
	if err != nil {
		t.Fatal(err)
	}
	b, err := q.QueueBatch(ctx, "redirect", "smarthost:sink", "standby.example", sel, true, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if b.Changed != 2 || b.KeptInDelivery != 1 {
		t.Errorf("redirect: %d moved, %d left in delivery; want 2 and 1", b.Changed, b.KeptInDelivery)
	}
	if got, _ := q.Message(ids[1]); got.Rcpts[0].Queue != "smarthost:sink" {
		t.Errorf("the message in delivery was moved to %s", got.Rcpts[0].Queue)
	}
}
