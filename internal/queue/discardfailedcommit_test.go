package queue

import (
	"context"
	"errors"
	"sync"
	"testing"
)

// SR-11, OPS-2: a primary's discard whose commit fails leaves its copy
// here, shadowed; the tracking log must not say it was discarded
// (`umbra track` would show the copy gone while it is kept, and a
// second "discard" once the primary's retry is committed).
func TestDiscardNotTrackedWhenItsCommitFails(t *testing.T) {
	s := openTest(t)
	var mu sync.Mutex
	var discards int
	ev := eventsFunc(func(name string, m *Message, r *Recipient, reply string) {
		mu.Lock()
		defer mu.Unlock()
		if name == "discard" {
			discards++
		}
	})
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }),
		ManagerConfig{Events: ev})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	m := receiptCopy(s, "x@b.example")
	if stored, err := q.SubmitShadowCopy(ctx, m, []byte(body), "hub-a", "127.0.0.1:25", "dbA"); err != nil || !stored {
		t.Fatalf("SubmitShadowCopy = %v, %v", stored, err)
	}
	disk := errors.New("no space left on device")
	s.setCommitFault(func(*Tx) error { return disk })
	n, err := q.ApplyDiscards("hub-a", []string{m.OrgID})
	s.setCommitFault(nil)
	if err == nil {
		t.Fatalf("ApplyDiscards = %d, nil: the commit fault did not fail it", n)
	}
	if _, err := q.Message(m.ID); err != nil {
		t.Fatalf("the copy whose discard failed to commit: %v, want it kept", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if discards != 0 {
		t.Fatalf("%d discard events written for a discard whose commit failed", discards)
	}
}
