package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// Q-3 (rr25 sched24b F6): jobs put back at the head of their queues — a
// withdrawal whose command did not take the message out of delivery
// (putBack), a stall's round giving back the jobs it held
// (startAfterRound) — lower the time the loop answers waiting jobs at
// (sched.waitDue) to their message's delay notice or expiry, as a job
// queued at its claim does. A scan made while they were out of the
// queues did not count them; with no due time known the loop slept to
// its next wake, up to an hour past the notice or the expiry.
func TestJobsPutBackLowerTheWaitingDueTime(t *testing.T) {
	for _, how := range []string{"withdrawal", "stall round"} {
		t.Run(how, func(t *testing.T) {
			s := openTest(t)
			t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			clk := clock.NewFake(t0)
			q := NewManager(s, newSlotWait(), ManagerConfig{MaxActive: 100, Clock: clk, Hostname: "mx.test",
				RetrySchedule: []time.Duration{30 * time.Second}, MessageExpiration: 60 * time.Second, DelayNotification: 10 * time.Second})
			m := msg(s, "a@example.org", "w@x.example")
			m.Arrived, m.Attempts = t0, 1 // a retry: its notice and expiry bind it
			a := &attempt{m: m}
			sc := q.sched
			sc.mu.Lock()
			jb := &job{a: a, d: sc.destFor("mx/x.example", "mx:x.example", 1), rcpts: []int{0}}
			sc.waitDue, sc.waitScan = time.Time{}, t0 // a scan that found nothing waiting
			sc.mu.Unlock()
			if how == "withdrawal" {
				(&withdrawal{a: a, jobs: []*job{jb}}).putBack(q, PanicAdmin)
			} else {
				sc.mu.Lock()
				sc.afterRound = []*job{jb}
				sc.mu.Unlock()
				q.startAfterRound(context.Background())
			}
			sc.mu.Lock()
			got := sc.waitDue
			sc.mu.Unlock()
			if want := t0.Add(10 * time.Second); !got.Equal(want) {
				t.Errorf("waitDue %v after the put-back, want the delay notice's %v", got, want)
			}
			if d := q.answerWaitingDue(context.Background()); d != 10*time.Second {
				t.Errorf("the loop may sleep %v, want 10s (until the notice)", d)
			}
		})
	}
}
