package queue

import (
	"strings"
	"time"
)

// A recipient waiting because its destination is dead is reported so
// (rt41 F3). A recipient throttled while its destination's window was
// full of hung sessions keeps the throttle's note, "destination busy:
// waiting for a delivery slot", until its next attempt. When those
// sessions fail and the destination is marked dead meanwhile, the note
// is out of date: the recipient now waits for the destination's
// cool-down, and `queue destinations` says dead. Thirty messages to one
// tarpit had their delay DSNs say "waiting for a delivery slot (its
// connections are all in use)", Status 4.4.5, and their expiries four
// different reasons. So a DSN made while the queue a throttled
// recipient waits in is dead (every destination of it the scheduler
// holds: coolingDown's rule) reports the dead mark instead — "its
// destination failed to answer; no connection until its cool-down
// ends", Status 4.4.1 (no answer from host, the README's rule for a
// dead destination) — as the recipients the pump answered by that mark
// read. Only the bare note: one that carries a host's reply reports
// that reply (withRealReplies), as a dead mark carrying one does. The
// record keeps its note; the next attempt replaces it.

// deadQueues is, of each queue every mail destination of which the
// scheduler holds is dead at now, the key of one of them (the first by
// key): what its dead mark names.
func (q *Manager) deadQueues(now time.Time) map[string]string {
	s := q.sched
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	alive := map[string]bool{}
	for _, d := range s.dests {
		switch {
		case d.task:
		case !d.dead(now):
			alive[d.queue] = true
		case out[d.queue] == "" || d.key < out[d.queue]:
			out[d.queue] = d.key
		}
	}
	for name := range alive {
		delete(out, name)
	}
	return out
}

// deadNotBusy is m, or a copy of it (for a DSN alone) whose recipients
// among rcpts noted as waiting for a delivery slot (the bare throttle
// note, or an expiry's last reply that is one) in a queue dead at now
// read the dead mark of its destination instead.
func (q *Manager) deadNotBusy(m *Message, rcpts []int, now time.Time) *Message {
	var dead map[string]string
	var c *Message
	for _, i := range rcpts {
		if i < 0 || i >= len(m.Rcpts) {
			continue
		}
		rc := &m.Rcpts[i]
		last := rc.LastReply
		if _, l, ok := splitExpired(last); ok {
			last = l
		}
		if last != throttleReply || rc.Queue == "" {
			continue
		}
		if dead == nil {
			dead = q.deadQueues(now)
		}
		key, ok := dead[rc.Queue]
		if !ok {
			continue
		}
		if c == nil {
			cp := *m
			cp.Rcpts = append([]Recipient(nil), m.Rcpts...)
			c = &cp
		}
		c.Rcpts[i].LastReply = strings.TrimSuffix(rc.LastReply, throttleReply) + deadReply(key, "")
	}
	if c == nil {
		return m
	}
	return c
}
