package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// OPS-4: the queue gauges' oldest message (UmbraOldMessages) counted a
// message the operator suspended by itself: it waits for the operator
// on purpose, and kept the alert firing for its queue type until
// resumed. QueueStats gives the oldest message still waiting for
// delivery (OldestWaiting), not one suspended.
func TestOPS4OldestWaitingLeavesSuspendedMessagesOut(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	t0 := time.Unix(1_700_000_000, 0)
	clk := clock.NewFake(t0)
	const name = "smarthost:sink.test"
	var ids []ID
	if err := s.Update(ctx, func(tx *Tx) error {
		for range 2 {
			m := txMsg(tx, "a@example.org", "x@b.test")
			m.Rcpts[0].Queue = name
			m.State, m.Attempts, m.NextAttempt = Ready, 1, t0.Add(time.Hour)
			if err := tx.PutNew(m, []byte(body)); err != nil {
				return err
			}
			ids = append(ids, m.ID)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	q := NewManager(s, nil, ManagerConfig{MaxActive: 100, Clock: clk})
	if err := q.SuspendMessage(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	stats, err := s.QueueStats(q)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range stats {
		if st.Name == name && st.OldestWaiting != ids[1] {
			t.Errorf("%s: oldest waiting %s, want %s (the older one is suspended)", name, st.OldestWaiting, ids[1])
		}
	}
	if err := q.SuspendMessage(ctx, ids[1]); err != nil {
		t.Fatal(err)
	}
	stats, _ = s.QueueStats(q)
	for _, st := range stats {
		if st.Name == name && st.OldestWaiting != 0 {
			t.Errorf("%s: every message suspended, oldest waiting %s, want none", name, st.OldestWaiting)
		}
	}
}
