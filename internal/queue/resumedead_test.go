package queue

import (
	"context"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// rt17c F3: a resume releases what the operator held; it does not end a
// dead destination's cool-down (only retry and flush ask for an attempt
// now). Mail resumed for a dead destination waits for the cool-down's
// end as the rest of its mail does: no connection is made at the resume.
func TestResumeKeepsDeadDestinationCoolDown(t *testing.T) {
	for _, how := range []string{"message", "queue"} {
		t.Run(how, func(t *testing.T) {
			s := openTest(t)
			t0 := time.Unix(1_700_000_000, 0)
			clk := clock.NewFake(t0)
			p := newPlanned()
			p.refuse["down.test"] = true
			q := NewManager(s, p, ManagerConfig{MaxActive: 100, Clock: clk,
				RetrySchedule: []time.Duration{10 * time.Minute, time.Hour},
				Scheduler:     SchedulerConfig{InitialWindow: 1, DeadCoolDown: 5 * time.Minute}})
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
			switch how {
			case "message":
				if err := q.SuspendMessage(ctx, m.ID); err != nil {
					t.Fatal(err)
				}
				if err := q.ResumeMessage(ctx, m.ID); err != nil {
					t.Fatal(err)
				}
			case "queue":
				if err := q.SuspendQueue(ctx, "mx:down.test"); err != nil {
					t.Fatal(err)
				}
				if _, err := q.ResumeQueue(ctx, "mx:down.test"); err != nil {
					t.Fatal(err)
				}
			}
			q.Kick()
			waitFor(t, "the resumed message answered by the dead mark", func() bool {
				got, _ := q.Message(m.ID)
				return got != nil && got.State == Ready && (strings.Contains(got.Rcpts[0].LastReply, "is dead") || p.count(p.calls, "down.test") > 1)
			})
			if n := p.count(p.calls, "down.test"); n != 1 {
				t.Fatalf("%d connections to the dead destination, want 1: the %s resume ended its cool-down", n, how)
			}
		})
	}
}
