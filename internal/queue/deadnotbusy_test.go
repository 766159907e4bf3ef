package queue

import (
	"strings"
	"testing"
	"time"
)

// Q-6, Q-3 (rt41 F3): a recipient throttled while its destination's
// window was full, whose destination was marked dead since, waits for
// the cool-down, not for a slot: its delay DSN and its expiry's say so
// ("its destination failed to answer", Status 4.4.1), as those of the
// recipients the dead mark answered do — not "waiting for a delivery
// slot (its connections are all in use)", Status 4.4.5, while `queue
// destinations` shows the destination dead. While it is alive the
// throttle's words stand.
func TestQ6ThrottledRecipientOfDeadDestinationReportedDead(t *testing.T) {
	s := openTest(t)
	q := NewManager(s, nil, ManagerConfig{Hostname: "mx.test"})
	now := time.Now()
	d := &dest{key: "slow.test", queue: "mx:slow.test", window: 1}
	q.sched.mu.Lock()
	q.sched.dests[d.key] = d
	q.sched.mu.Unlock()
	for _, dead := range []bool{true, false} {
		q.sched.mu.Lock()
		d.deadUntil = time.Time{}
		if dead {
			d.deadUntil = now.Add(time.Hour)
		}
		q.sched.mu.Unlock()
		for _, c := range []struct {
			kind  Notify
			reply string
			lead  string
		}{
			{NotifyDelay, throttleReply, "not delivered yet: "},
			{NotifyFailure, expiredReply("550 5.4.7", 3*time.Minute, throttleReply), "550 5.4.7 message expired after 3m0s; not delivered: "},
		} {
			for _, from := range []string{"alice@example.org", "bob@ext.example"} {
				m := &Message{ID: 0xABC, From: from, Arrived: now.Add(-3 * time.Minute), Rcpts: []Recipient{{
					Addr: "rC@slow.test", Notify: NotifyFailure | NotifyDelay, Queue: "mx:slow.test", LastReply: c.reply}}}
				_, db := q.newDSN(m, MemBody([]byte("Subject: x\r\n\r\nbody\r\n")), c.kind, []int{0}, now, q.policy())
				dsn := string(db)
				line := dsnTextLine(dsn, "rC@slow.test")
				want, status := "failed to answer; no connection until its cool-down ends", "Status: 4.4.1"
				if !dead {
					want, status = "waiting for a delivery slot", "Status: 4.4.5"
				}
				if c.kind == NotifyFailure {
					status = "Status: 5.4.7"
				}
				if !strings.HasPrefix(line, "<rC@slow.test>: "+c.lead) || !strings.Contains(line, want) || !strings.Contains(dsn, status+"\r\n") {
					t.Errorf("dead %v, kind %v, sender %s: text line %q; want %q and %q, and %s:\n%s", dead, c.kind, from, line, c.lead, want, status, dsn)
				}
			}
		}
		if m := (&Message{Rcpts: []Recipient{{Queue: "mx:slow.test", LastReply: throttleReply}}}); q.deadNotBusy(m, []int{0}, now) == m && dead {
			t.Error("a throttled recipient of a dead destination: the record itself should be left, a copy changed")
		}
	}
}
