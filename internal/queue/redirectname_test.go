package queue

import (
	"context"
	"slices"
	"testing"
	"time"

	"umbra/internal/clock"
)

// rt18e-F2: a redirect's queue is named by one form of its target,
// whichever form the operator typed: a suspension of either form holds
// the mail a redirect in the other form moves.
func TestRedirectQueueNameIsCanonical(t *testing.T) {
	for in, want := range map[string]string{
		"redirect:::1":             "redirect:[::1]",
		"redirect:[::1]":           "redirect:[::1]",
		"redirect:[::1]:2525":      "redirect:[::1]:2525",
		"redirect:[0:0::1]":        "redirect:[::1]",
		"redirect:Standby.Example": "redirect:standby.example",
		"redirect:10.0.0.1:25":     "redirect:10.0.0.1:25",
		"smarthost:Sink":           "smarthost:Sink",
	} {
		if got := CanonicalQueueName(in); got != want {
			t.Errorf("CanonicalQueueName(%q) = %q, want %q", in, got, want)
		}
	}

	s := openTest(t)
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	p := newPlanned()
	p.refuse["down.test"] = true
	q := NewManager(s, p, ManagerConfig{MaxActive: 100, Clock: clk,
		RetrySchedule: []time.Duration{10 * time.Minute, time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { close(p.stop); cancel(); q.Wait() }()
	q.Start(ctx)
	m := msg(s, "a@example.org", "x@down.test")
	m.Arrived = clk.Now()
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the refused attempt", func() bool {
		got, _ := q.Message(m.ID)
		return got != nil && got.State == Ready && got.Attempts == 1
	})
	if err := q.SuspendQueue(ctx, "redirect:[::1]"); err != nil {
		t.Fatal(err)
	}
	if n, err := q.RedirectQueue(ctx, "mx:down.test", "::1"); err != nil || n != 1 {
		t.Fatalf("redirect: %d, %v", n, err)
	}
	got, _ := q.Message(m.ID)
	if got.Rcpts[0].Queue != "redirect:[::1]" {
		t.Fatalf("redirected to queue %q, want redirect:[::1]", got.Rcpts[0].Queue)
	}
	if !slices.Contains(q.SuspendedQueues(), "redirect:[::1]") || heldOnlyBy(got, q.SuspendedQueues()) != "redirect:[::1]" {
		t.Fatalf("the redirected mail is not held by the suspension (%v)", q.SuspendedQueues())
	}
}
