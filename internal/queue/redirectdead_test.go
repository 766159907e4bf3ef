package queue

import (
	"context"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// A redirect moves a queue's mail to another next hop; it is no ask to
// try the old destinations now, so it ends no dead destination's
// cool-down (only retry and flush do: Q- operator actions, rt17c F3's
// sibling). Two destinations die; the redirect of one's queue leaves the
// other's cool-down running: a message of that other, resumed after the
// redirect, is answered by the dead mark, with no connection.
func TestRedirectKeepsDeadDestinationCoolDown(t *testing.T) {
	s := openTest(t)
	t0 := time.Unix(1_700_000_000, 0)
	clk := clock.NewFake(t0)
	p := newPlanned()
	p.refuse["down.test"] = true
	p.refuse["gone.test"] = true
	q := NewManager(s, p, ManagerConfig{MaxActive: 100, Clock: clk,
		RetrySchedule: []time.Duration{10 * time.Minute, time.Hour},
		Scheduler:     SchedulerConfig{InitialWindow: 1, DeadCoolDown: 5 * time.Minute}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { close(p.stop); cancel(); q.Wait() }()
	q.Start(ctx)
	m := msg(s, "a@example.org", "x@down.test")
	g := msg(s, "a@example.org", "y@gone.test")
	for _, mm := range []*Message{m, g} {
		mm.Arrived = clk.Now()
		if err := q.Submit(ctx, mm, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	for _, mm := range []*Message{m, g} {
		waitFor(t, "the refused attempt", func() bool {
			got, _ := q.Message(mm.ID)
			return got != nil && got.State == Ready && got.Attempts == 1
		})
	}
	if err := q.SuspendMessage(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	if n, err := q.RedirectQueue(ctx, "mx:gone.test", "127.0.0.9:2525"); err != nil || n != 1 {
		t.Fatalf("redirect: %d, %v", n, err)
	}
	if err := q.ResumeMessage(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	q.Kick()
	waitFor(t, "the resumed message answered by the dead mark", func() bool {
		got, _ := q.Message(m.ID)
		return got != nil && got.State == Ready && (strings.Contains(got.Rcpts[0].LastReply, "is dead") || p.count(p.calls, "down.test") > 1)
	})
	if n := p.count(p.calls, "down.test"); n != 1 {
		t.Fatalf("%d connections to the dead destination, want 1: the redirect of another queue ended its cool-down", n)
	}
}
