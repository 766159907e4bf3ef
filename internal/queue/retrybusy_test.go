package queue

import (
	"testing"
	"time"
)

// Q-4 (retry): an operator's retry never makes a message's next attempt
// later than it was. A message turned away as "destination busy" (its
// next hop's window full of sessions hung at their greeting) waits for
// its recheck; a retry that finds the destination still busy left it
// due a whole recheck after the retry — later than before the retry
// (04:04:02 became 04:04:19).
func TestQ4RetryOfBusyMessageNeverPushesItsNextAttemptLater(t *testing.T) {
	hung, open := hangingHop(t)
	r := startHopRig(t, openTest(t), map[string]string{"hung.test": hung},
		nil, ManagerConfig{MaxActive: 4, Scheduler: SchedulerConfig{InitialWindow: 5, ThrottleRecheck: time.Minute}})
	s, q, ctx := r.s, r.q, r.ctx
	var ids []ID
	for range 5 {
		m := msg(s, "a@example.org", "x@hung.test")
		if err := q.Submit(ctx, m, []byte(body)); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	waitFor(t, "the hung next hop holding 3 of the 4 slots", func() bool { return open.Load() >= 3 })
	get := func() *Message {
		var m *Message
		_ = s.View(func(tx *Tx) error { m, _ = tx.Get(ids[4]); return nil })
		return m
	}
	waitFor(t, "the third message turned away busy", func() bool {
		m := get()
		return m != nil && m.State == Ready && isThrottleReply(m.Rcpts[0].LastReply) && m.NextAttempt.After(r.clk.Now())
	})
	before := get().NextAttempt
	r.clk.Advance(before.Sub(r.clk.Now()) / 2) // before its recheck
	retryAt := r.clk.Now()
	if err := q.RetryMessage(ctx, ids[4]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the retry's claim turned away busy again", func() bool {
		m := get()
		return m != nil && m.State == Ready && m.NextAttempt.After(retryAt)
	})
	if after := get().NextAttempt; after.After(before) {
		t.Errorf("the retry moved the next attempt from %s to %s: later than before it", before.Format(time.TimeOnly), after.Format(time.TimeOnly))
	}
}
