package queue

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
)

// SR-11 (rt28a F2): a primary's discard fetched while the copy's attempt
// was still in delivery is kept aside and applied by the commit of the
// attempt's results, which then removes the copy — and that removal is
// a transition like any other: the tracking log says "discard" after
// "shadow", or `umbra track` shows the copy shadowed forever.
func TestEarlyDiscardIsTracked(t *testing.T) {
	s := openTest(t)
	var mu sync.Mutex
	var names []string
	var reasons []string
	ev := eventsFunc(func(name string, m *Message, r *Recipient, reply string) {
		mu.Lock()
		names = append(names, name)
		reasons = append(reasons, reply)
		mu.Unlock()
	})
	var q *Manager
	d := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		sid := m.ID.String() + "-b"
		if n, err := q.ApplyDiscards("hub-b", []string{sid}); n != 1 || err != nil {
			t.Errorf("early discard: %d %v", n, err)
		}
		return []Result{{Rcpt: 0, Outcome: ShadowedOK, Queue: "site:b", Primary: "hub-b", PrimaryAddr: "127.0.0.2:25", ShadowID: sid}}
	})
	q = NewManager(s, d, ManagerConfig{Events: ev})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	m := msg(s, "a@example.org", "x@c.example")
	q.Submit(ctx, m, []byte(body))
	waitFor(t, "the message to go", func() bool { _, err := q.Message(m.ID); return errors.Is(err, ErrNotFound) })
	waitFor(t, "its events", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(names) > 0 && names[len(names)-1] != "submit" && names[len(names)-1] != "receive"
	})
	mu.Lock()
	defer mu.Unlock()
	shadow, discard := -1, -1
	for i, n := range names {
		switch n {
		case "shadow":
			shadow = i
		case "discard":
			discard = i
			if !strings.Contains(reasons[i], "hub-b") {
				t.Errorf("discard event names no primary: %q", reasons[i])
			}
		}
	}
	if shadow < 0 || discard < shadow {
		t.Fatalf("events %v: want a discard after the shadow event (SR-11)", names)
	}
}

// OPS-2 (rt28a F1): a discard kept aside for a copy in delivery is one
// discard however often the primary hands it (again to every session
// that asks until one acknowledges it): the second finds it kept and is
// not counted (a partial one kept aside likewise: partialdiscard.go).
func TestEarlyDiscardRepeatCountedOnce(t *testing.T) {
	s := openTest(t)
	var q *Manager
	d := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		sid := m.ID.String() + "-b"
		for i, want := range []int{1, 0, 0} {
			if n, err := q.ApplyDiscards("hub-b", []string{sid}); n != want || err != nil {
				t.Errorf("discard handed %d times: counted %d %v, want %d", i+1, n, err, want)
			}
		}
		return []Result{{Rcpt: 0, Outcome: ShadowedOK, Queue: "site:b", Primary: "hub-b", PrimaryAddr: "127.0.0.2:25", ShadowID: sid}}
	})
	q = NewManager(s, d, ManagerConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	m := msg(s, "a@example.org", "x@c.example")
	q.Submit(ctx, m, []byte(body))
	waitFor(t, "the message to go", func() bool { _, err := q.Message(m.ID); return errors.Is(err, ErrNotFound) })
}
