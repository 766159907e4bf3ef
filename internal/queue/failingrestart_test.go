package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// connectFailHost: every session to mx/down.test fails to connect (a
// failure of the destination, feedback −1).
type connectFailHost struct{ hungDotHost }

const connectFailReply = "451 4.4.1 connect to mx.down.test[192.0.2.8]:25: connection refused"

func (h *connectFailHost) Plan(_ context.Context, m *Message, rcpts []int) []Job {
	if m.Connector == "dsn" {
		return []Job{{Dest: "mx/dsn.test", Queue: "mx:dsn.test", Rcpts: rcpts}}
	}
	return []Job{{Dest: "mx/down.test", Queue: "mx:down.test", Max: 2, Rcpts: rcpts}}
}

func (h *connectFailHost) Deliver(_ context.Context, m *Message, _ []byte, rcpts []int) []Result {
	out := make([]Result, len(rcpts))
	for k, i := range rcpts {
		out[k] = Result{Rcpt: i, Outcome: Deferred, Queue: "mx:down.test", NextHop: "mx.down.test[192.0.2.8]:25", Reply: connectFailReply}
	}
	return out
}

// Q-6, OPS-2: a destination failing before a restart is shown failing
// after it (queue destinations, umbra_scheduler_destinations), with its
// last error, while its mail waits for its retry — not missing from the
// view until its next attempt (the scheduler's health is rebuilt at the
// start from the last replies of the messages in its queue). Both kinds
// of failure: a next hop that closes after the final dot (a message's
// failure) and one that cannot be reached (the destination's).
func TestQ6FailingDestinationShownAfterRestart(t *testing.T) {
	for _, c := range []struct {
		name, dest, reply string
		del               func() Deliverer
	}{
		{"after the dot", "mx/hung.test", hungDotReply, func() Deliverer { return &hungDotHost{calls: map[string]int{}} }},
		{"unreachable", "mx/down.test", connectFailReply, func() Deliverer { return &connectFailHost{} }},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t)
			clk := clock.NewFake(time.Unix(1_700_000_000, 0))
			cfg := ManagerConfig{MaxActive: 100, Clock: clk, MessageExpiration: 48 * time.Hour,
				RetrySchedule: []time.Duration{time.Hour},
				Scheduler:     SchedulerConfig{InitialWindow: 2, DeadCoolDown: time.Minute}}
			find := func(q *Manager) DestinationInfo {
				for _, d := range q.Destinations() {
					if d.Name == c.dest {
						return d
					}
				}
				return DestinationInfo{}
			}
			q1 := NewManager(s, c.del(), cfg)
			ctx1, cancel1 := context.WithCancel(context.Background())
			q1.Start(ctx1)
			m := msg(s, "x@example.org", "a@"+c.dest[len("mx/"):])
			m.Arrived = clk.Now()
			if err := q1.Submit(ctx1, m, []byte(body)); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the deferral, the destination failing", func() bool {
				got, _ := q1.Message(m.ID)
				return got != nil && got.Attempts == 1 && find(q1).State == "failing"
			})
			cancel1()
			q1.Wait()

			q := NewManager(s, c.del(), cfg)
			ctx, cancel := context.WithCancel(context.Background())
			defer func() { cancel(); q.Wait() }()
			q.Start(ctx)
			waitFor(t, "the destination shown failing after the restart", func() bool { return find(q).State == "failing" })
			// Still after the scheduler loop's first passes, whose first
			// pruning of idle destinations runs at once (opsrt40 F7).
			waitFor(t, "the scheduler loop's first passes", func() bool { q.Kick(); return q.loopPasses.Load() >= 2 })
			d := find(q)
			if d.Failures < 1 || d.LastError != c.reply || d.Queue != "mx:"+c.dest[len("mx/"):] {
				t.Errorf("after the restart: %+v; want failing with its last error %q", d, c.reply)
			}
		})
	}
}
