package queue

import (
	"context"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

type attemptEvents struct {
	mu       sync.Mutex
	attempts []int // m.Attempts of each defer event, in order
}

func (a *attemptEvents) Event(name string, m *Message, r *Recipient, reply string) {
	if name != "defer" {
		return
	}
	a.mu.Lock()
	a.attempts = append(a.attempts, m.Attempts)
	a.mu.Unlock()
}

func (a *attemptEvents) last() (int, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.attempts) == 0 {
		return -1, 0
	}
	return a.attempts[len(a.attempts)-1], len(a.attempts)
}

// rt18a F5 (OPS-): the events of an attempt (the daemon's log line
// "event=defer … attempts=N", the tracking log) carry the message's
// attempt count as the attempt left it — the count message show gives —
// not the count before it (0 after the first attempt, 1 after the
// second).
func TestDeferEventCarriesTheAttemptCount(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	p := newPlanned()
	p.refuse["down.test"] = true
	ev := &attemptEvents{}
	q := NewManager(s, p, ManagerConfig{MaxActive: 10, Clock: clk, Events: ev,
		RetrySchedule: []time.Duration{10 * time.Second, time.Hour},
		Scheduler:     SchedulerConfig{InitialWindow: 1, DeadCoolDown: time.Second}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { close(p.stop); cancel(); q.Wait() }()
	q.Start(ctx)
	m := msg(s, "a@example.org", "b@down.test")
	m.Arrived = clk.Now()
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	for want := 1; want <= 2; want++ {
		waitFor(t, "the attempt's defer event", func() bool {
			_, n := ev.last()
			got, _ := q.Message(m.ID)
			return n >= want && got != nil && got.State == Ready && got.NextAttempt.After(clk.Now())
		})
		got, _ := q.Message(m.ID)
		if a, _ := ev.last(); got.Attempts != want || a != got.Attempts {
			t.Fatalf("after attempt %d: defer event says attempts=%d, the message %d", want, a, got.Attempts)
		}
		clk.Advance(11 * time.Second)
		q.Kick()
	}
}
