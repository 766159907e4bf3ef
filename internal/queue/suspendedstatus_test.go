package queue

import (
	"context"
	"errors"
	"testing"
)

// A queue whose every message is suspended by its own hold (message
// suspend) has nothing ready: its status is "suspended", as its
// messages are, not "ready" (which status=ready would list). A second
// suspend of a suspended message changes nothing and says so (the
// action does not apply), and a bulk suspend skips it by reason.
func TestSuspendedMessagesQueueStatus(t *testing.T) {
	s := openTest(t)
	q := NewManager(s, nil, ManagerConfig{})
	ctx := context.Background()
	m := msg(s, "a@example.org", "b@example.net")
	m.State, m.Rcpts[0].Queue = Ready, "smarthost:sink"
	if err := s.Update(ctx, func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	if err := q.SuspendMessage(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	qs, err := q.Queues()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, qi := range qs {
		if qi.Name == "smarthost:sink" {
			found = true
			if qi.Status != "suspended" {
				t.Errorf("a queue of suspended messages only: status %q %+v", qi.Status, qi)
			}
		}
	}
	if !found {
		t.Fatalf("the queue is not listed: %+v", qs)
	}
	if err := q.SuspendMessage(ctx, m.ID); !errors.Is(err, ErrNotApplicable) {
		t.Errorf("a second suspend: %v", err)
	}
	got, _ := q.Message(m.ID)
	if why := BulkSkip("suspend", got); why == "" {
		t.Errorf("a bulk suspend does not skip a suspended message")
	}
}
