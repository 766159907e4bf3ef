package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// A step of the wall clock moves the queue's stored times with it, so
// that the real time to a message's retry and expiry does not change:
// forward by an hour, the deferred message is not retried at once (no
// retry storm) and does not expire early (no mass expiry); back by an
// hour, its retry does not wait an hour longer.
func TestClockStepMovesQueueTimes(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	d := newScripted(func(string, int) (Outcome, string) { return Deferred, "451 4.4.1 try later" })
	q := NewManager(s, d, ManagerConfig{Hostname: "mx.test", Clock: clk,
		RetrySchedule: []time.Duration{time.Hour}, MessageExpiration: 3 * time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	m := msg(s, "sender@example.org", "slow@example.net")
	m.Arrived = clk.Now()
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	d.wait(t)
	stored := func() *Message {
		ms := messages(t, s)
		if len(ms) != 1 {
			return nil
		}
		return ms[0]
	}
	waitFor(t, "the deferral", func() bool {
		m := stored()
		return m != nil && m.State == Ready && m.NextAttempt.Equal(t0.Add(time.Hour))
	})

	// The scheduler must be asleep when the clock steps: a step in the
	// middle of its round is seen only by the next one.
	idle := func() {
		t.Helper()
		stable := 0
		for i := 0; stable < 3; i++ {
			if i > 5000 {
				t.Fatal("the scheduler did not go to sleep")
			}
			if clk.Pending() == 1 && len(q.kick) == 0 && q.room() == q.cfg.MaxActive {
				stable++
			} else {
				stable = 0
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	idle()
	// Forward by an hour: the stored times follow.
	clk.Jump(time.Hour)
	q.Kick()
	waitFor(t, "the retry time to follow the step", func() bool {
		m := stored()
		return m != nil && m.NextAttempt.Equal(t0.Add(2*time.Hour)) && m.Arrived.Equal(t0.Add(time.Hour))
	})
	select {
	case <-d.calls:
		t.Fatal("retried at once after the clock stepped forward")
	case <-time.After(100 * time.Millisecond):
	}
	clk.Advance(time.Hour) // one real hour: the retry, and no expiry (3 real hours; its retry step stops short of it)
	d.wait(t)
	waitFor(t, "the second deferral", func() bool {
		m := stored()
		return m != nil && m.State == Ready && m.NextAttempt.Equal(t0.Add(3*time.Hour))
	})

	// Back by an hour: the retry is due after one real hour, not two.
	idle()
	clk.Jump(-time.Hour)
	q.Kick()
	waitFor(t, "the retry time to follow the step back", func() bool {
		m := stored()
		return m != nil && m.NextAttempt.Equal(t0.Add(2*time.Hour))
	})
	clk.Advance(time.Hour)
	d.wait(t)
}
