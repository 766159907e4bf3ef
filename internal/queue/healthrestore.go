package queue

import (
	"context"
	"strings"
)

// The scheduler's health after a restart (rt37 F3).
//
// A destination's failures in a row live in memory (dest.streak,
// dest.msgFails): after a restart a destination whose mail waits for its
// retry after failing was missing from `queue destinations` and from
// umbra_scheduler_destinations{state="failing"} until its next attempt —
// shown as if it were healthy while it has mail. restoreHealth rebuilds
// them at the start from what the transport database keeps: the last
// reply of the messages waiting in each delivery queue. A queue some of
// whose first restoreSample messages waiting for a retry have a
// recipient whose last reply was a failure of the destination (it could
// not be reached or kept a session: a 4.4.x / 4.2.x reply, feedback −1;
// or the message's own failure after the final dot, MayHaveArrived, or
// by a TLS policy refusal, or the routing loop, messageFailure; or a
// dead destination's mark) has its destination shown failing, one
// failure per such message, with the latest such reply as its last
// error. Whether the host answered (Result.Answered, not stored) is
// read from the reply's words and next hop (AnsweredReply): a host's own
// 4.4.2 in a session it kept is its answer after the restart as before. They are counted as msgFails — for the operator's view only:
// the window, the death and the cool-down start anew, as before, and
// the next success clears them as it clears every failure.

// restoreSample bounds the messages read per queue at the start.
const restoreSample = 16

func (q *Manager) restoreHealth(ctx context.Context) {
	p, ok := q.del.(Planner)
	if !ok {
		return
	}
	type failed struct {
		m       *Message
		rcpt    int
		n       int
		lastErr string
		lastHop string
	}
	var found []failed
	_ = q.store.View(func(tx *Tx) error {
		for _, qs := range tx.Queues() {
			if strings.HasPrefix(qs.Name, "shadow:") || qs.ByState[Ready] == 0 {
				continue
			}
			f := failed{rcpt: -1}
			for _, id := range tx.InQueueIn(qs.Name, Ready, restoreSample) {
				m, err := tx.Get(id)
				if err != nil || m == nil || m.Attempts == 0 {
					continue
				}
				for i, rc := range m.Rcpts {
					if rc.Status.Done() || rc.Queue != qs.Name || !destFailure(rc.LastReply, rc.NextHop, rc.Queue) {
						continue
					}
					f.n++
					if f.m == nil || m.NextAttempt.After(f.m.NextAttempt) {
						f.m, f.rcpt = m, i
						f.lastErr, f.lastHop = realReply(rc.LastReply), rc.NextHop
					}
					break
				}
			}
			if f.m != nil {
				found = append(found, f)
			}
		}
		return nil
	})
	for _, f := range found {
		jobs := p.Plan(ctx, f.m, []int{f.rcpt})
		if len(jobs) == 0 || jobs[0].Dest == "" {
			continue
		}
		j := jobs[0]
		s := q.sched
		s.mu.Lock()
		d := s.destFor(j.Dest, j.Queue, j.Max)
		// Known from now: the loop's first pruning of destinations idle
		// for an hour (at once) must not drop it as unused since ever.
		d.lastUse = q.clk.Now()
		if !d.failing() {
			d.msgFails = f.n
			d.lastErr, d.lastHop = f.lastErr, f.lastHop
		}
		s.mu.Unlock()
	}
}

// destFailure: reply, a recipient's last reply recorded against
// nextHop in queue, was a failure of its destination in the scheduler's sense —
// a dead destination's mark, a reply that could not reach or keep the
// next hop (feedback −1, read as the live signal reads it: against the
// host it names, so a relay's own 451 4.4.1 about a host beyond it is
// its answer here too), or the message's failure (messageFailure).
func destFailure(reply, nextHop, queue string) bool {
	if isDeadReply(reply) {
		return true
	}
	last := realReply(reply)
	if last == "" || umbraNote(last) || expiredUnsent(last) {
		return false
	}
	return messageFailure(last, nextHop) || feedback([]Result{{Outcome: Deferred, Reply: last, NextHop: nextHop, Answered: AnsweredReply(last, nextHop, queue)}}) < 0
}

// AnsweredReply reports whether reply, recorded against nextHop in
// queue, is one the host itself answered in a session it kept — what
// Result.Answered said when the result came, read back from what the
// store keeps (a recipient's last reply, its next hop and its queue):
// the host's own reply, no 421 (HostsOwnReply: recorded against a host,
// in words that do not name it as umbra's words on an attempt at it
// always do), or umbra's deferral of hosts that answered (HostsAnswered:
// a reply out of step or stray, hosts that did not take the message).
// Delivery marks a result answered exactly then (delivery/transaction.go
// classify: every reply of the host's own but a 421), so a host's own
// "451 4.4.2 too busy, try later" reads after a restart as it did when
// it came — the host answered, no failure of its destination — not as a
// session it closed (deliv47). The record keeps no flag of its own for
// it: the words are the record, read alike by every release. umbra's
// own words that name no host (umbrasOwnWords: the content unreadable,
// a panic recovered, no result, the expiry's cut, its notes) are no
// answer, whatever host the recipient was being tried at.
//
// The mailbox store's LMTP server is recorded as "lmtp:ADDR" (LMTPHop)
// while umbra's words about its session name it "lmtp" (lmtpOwnTexts):
// its own reply is any other than those words, and its reply out of
// step or stray is umbra's words naming "lmtp". A server of the
// organisation relayed to through its shadow session is recorded by
// its name alone (orgServerHop), which umbra's words about that session
// name as they name "name[ip]:port" (rddeliv47: its own "451 4.4.1 no
// host reachable" about the hosts beyond it read as a failure after a
// restart).
func AnsweredReply(reply, nextHop, queue string) bool {
	if HostClosed(reply) || umbrasOwnWords(reply) {
		return false
	}
	if IsLMTPHop(nextHop) {
		return AnsweredOutOfStep(reply, "lmtp") || IsStray(reply, "lmtp") || !lmtpOwn(reply)
	}
	if orgServerHop(nextHop, queue) {
		return HostsAnswered(reply, nextHop) || !strings.Contains(reply, nextHop)
	}
	return HostsAnswered(reply, nextHop) || HostsOwnReply(reply, nextHop)
}

// umbrasOwnWords: reply is umbra's own, naming no host, whatever host
// the recipient was tried at: its notes (umbraNote), the expiry's cut,
// a recovered panic, no result from delivery, the content unreadable.
func umbrasOwnWords(reply string) bool {
	return umbraNote(reply) || expiredUnsent(reply) || reply == PanicReply || reply == noResultReply ||
		strings.HasPrefix(reply, unreadablePrefix)
}

// orgServerHop: nextHop, recorded in queue, is a transport server of
// the organisation named alone — a relay through its shadow session,
// whose session's hop is the server it presents (delivery org.go,
// openShadow) — in a route's queue ("site:NAME"), where every other
// next hop is a server as "name[ip]:port" or the queue itself.
func orgServerHop(nextHop, queue string) bool {
	return strings.HasPrefix(queue, "site:") && nextHop != "" && !strings.ContainsAny(nextHop, "[:")
}

// restoreSuspended lists at the start the destination of each queue an
// operator suspended that holds mail (opsrt40 F7): its mail is held,
// never attempted, so no job would make its destination known, and
// queue destinations and umbra_scheduler_destinations{state="suspended"}
// missed it after a restart while queue list listed the queue
// suspended. The destination is the one the planner gives a recipient
// of the queue now were the queue not suspended (heldPlan: the
// deliverer's Plan gives a suspended queue's recipient no destination,
// so planning with it found none in a real daemon, opsrt43 F1); one
// planned to another queue (the configuration changed) is not listed.
func (q *Manager) restoreSuspended(ctx context.Context) {
	q.qmu.Lock()
	var names []string
	for name := range q.suspended {
		if !strings.HasPrefix(name, "shadow:") {
			names = append(names, name)
		}
	}
	q.qmu.Unlock()
	type held struct {
		m    *Message
		rcpt int
	}
	var found []held
	_ = q.store.View(func(tx *Tx) error {
		for _, name := range names {
		ids:
			for _, id := range tx.InQueue(name, restoreSample) {
				m, err := tx.Get(id)
				if err != nil || m == nil {
					continue
				}
				for i, rc := range m.Rcpts {
					if !rc.Status.Done() && rc.Queue == name {
						found = append(found, held{m, i})
						break ids
					}
				}
			}
		}
		return nil
	})
	for _, h := range found {
		q.knowHeldDest(ctx, h.m, h.rcpt)
	}
}

// knowHeldDest makes the destination of recipient i of m, held in its
// queue (suspended), known to the scheduler — listed suspended while the
// queue is, kept by pruneDests meanwhile — unless a destination of that
// queue is known already. finish calls it for a recipient an attempt
// found suspended (heldNow): mail routed to a queue suspended before any
// of it was attempted made no job, and its destination was missing from
// queue destinations as after a restart (opsrt43 F1).
func (q *Manager) knowHeldDest(ctx context.Context, m *Message, i int) {
	name := m.Rcpts[i].Queue
	s := q.sched
	s.mu.Lock()
	for _, d := range s.dests {
		if !d.task && d.queue == name {
			s.mu.Unlock()
			return
		}
	}
	s.mu.Unlock()
	jobs := q.heldPlan(ctx, m, []int{i})
	if len(jobs) == 0 || jobs[0].Dest == "" || jobs[0].Queue != name {
		return
	}
	j := jobs[0]
	s.mu.Lock()
	s.destFor(j.Dest, j.Queue, j.Max).lastUse = q.clk.Now()
	s.mu.Unlock()
}

// heldPlan is the deliverer's plan of rcpts of m were no queue
// suspended (HeldPlanner), else its Plan; nil without a planner.
func (q *Manager) heldPlan(ctx context.Context, m *Message, rcpts []int) []Job {
	if hp, ok := q.del.(HeldPlanner); ok {
		return hp.PlanHeld(ctx, m, rcpts)
	}
	if p, ok := q.del.(Planner); ok {
		return p.Plan(ctx, m, rcpts)
	}
	return nil
}
