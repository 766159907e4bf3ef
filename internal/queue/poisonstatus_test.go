package queue

import (
	"context"
	"testing"
)

// queue list shows the poison queue as "poison", as its messages and the
// metrics do: nothing is delivered from it, and "ready" said otherwise.
func TestPoisonQueueStatus(t *testing.T) {
	s := openTest(t)
	q := NewManager(s, nil, ManagerConfig{})
	m := msg(s, "a@example.org", "b@example.net")
	m.State = Poison
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	qs, err := q.Queues()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, qi := range qs {
		if qi.Name == QueuePoison {
			found = true
			if qi.Status != "poison" {
				t.Errorf("the poison queue's status: %q", qi.Status)
			}
		}
	}
	if !found {
		t.Fatalf("no poison queue listed: %+v", qs)
	}
}
