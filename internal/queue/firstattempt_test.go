package queue

import (
	"context"
	"slices"
	"testing"
)

// During a message's first attempt its recipients name no queue yet
// (the attempt's results set it): the queue it is attempted through is
// still a queue the operator can name — message list --queue finds the
// message there, and the name is not refused as unknown (rt32 F10).
func TestQueueOfAFirstAttempt(t *testing.T) {
	s := openTest(t)
	p := newPlanned()
	p.stall["slow.test"] = true
	q := NewManager(s, p, ManagerConfig{MaxActive: 8})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { close(p.stop); cancel(); q.Wait() }()
	q.Start(ctx)
	var ids []ID
	for range 3 { // two run (the window), one waits for a slot
		m := msg(s, "a@example.org", "x@slow.test")
		if err := q.Submit(ctx, m, []byte(body)); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	waitFor(t, "two attempts running", func() bool { return p.count(p.calls, "slow.test") == 2 })
	if err := q.CheckQueue("mx:slow.test", false); err != nil {
		t.Fatalf("the queue of a first attempt: %v", err)
	}
	ms, err := q.Messages(MessageFilter{Queue: "mx:slow.test"})
	if err != nil {
		t.Fatal(err)
	}
	var got []ID
	for _, m := range ms {
		got = append(got, m.ID)
	}
	slices.Sort(got)
	for _, id := range ids {
		if m, _ := q.Message(id); m.State == Active && !slices.Contains(got, id) {
			t.Errorf("message %v in its first attempt through mx:slow.test is not listed in it: %v", id, got)
		}
	}
	if len(got) < 2 {
		t.Errorf("listed %v, want at least the two running", got)
	}
	if err := q.CheckQueue("mx:other.test", false); err == nil {
		t.Error("a queue nothing is in or attempted through is accepted")
	}
}
