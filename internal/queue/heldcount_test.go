package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// OPS-2: queue destinations' WAITING (and the
// umbra_scheduler_attempts_waiting gauge, its sum) counts every message
// a busy destination turned away, however many: the count is exact, not
// the first heldCap of them (1,024; lowered here to 4). And a message
// turned away beyond that bound waits for its recheck as the others do,
// not made due again at once by its attempt's end. Seen to fail first:
// only 4 of the 12 messages stayed turned away until their recheck, the
// rest made due at once by their attempts' ends and claimed again, and
// WAITING never counted more than the 4.
func TestDestinationWaitingCountsEveryHeldMessage(t *testing.T) {
	defer func(n int) { heldCap = n }(heldCap)
	heldCap = 4
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	p := newPlanned()
	p.stall["slow.test"] = true
	q := NewManager(s, p, ManagerConfig{MaxActive: 4, Clock: clk, RetrySchedule: []time.Duration{time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { close(p.stop); cancel(); q.Wait() }()
	q.Start(ctx)
	var ids []ID
	for range 12 {
		m := msg(s, "a@example.org", "x@slow.test")
		m.Arrived = t0
		if err := q.Submit(ctx, m, []byte(body)); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	settled := func() (running, turned int) {
		for _, id := range ids {
			m, _ := q.Message(id)
			switch {
			case m == nil:
			case m.State == Active:
				running++
			case m.State == Ready && isThrottleReply(m.Rcpts[0].LastReply) && m.NextAttempt.After(clk.Now()):
				turned++
			}
		}
		return running, turned
	}
	var r, n int
	ok := false
	for range 500 {
		if r, n = settled(); r+n == len(ids) && n > heldCap {
			ok = true
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !ok {
		t.Fatalf("%d of %d messages in delivery, %d turned away until their recheck: the rest churn (due at once, claimed again)", r, len(ids), n)
	}
	// Every message is running, waiting for a slot, or turned away:
	// queue destinations counts each once.
	waitFor(t, "queue destinations counting every message for it", func() bool {
		for _, di := range q.Destinations() {
			if di.Queue == "mx:slow.test" {
				return di.Running+di.Waiting == len(ids)
			}
		}
		return false
	})
}
