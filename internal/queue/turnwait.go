package queue

import "context"

// Waiting for a mailbox's turn (delivery mailboxturn.go) holds no slot
// of the active set.
//
// A job whose recipient's mailbox is in another LMTP transaction of
// this server waits for that transaction to end. Its message holds a
// slot of the active set meanwhile, and with few slots (max_active)
// and slow turns (a mailbox server that takes minutes over one
// message) the waiting jobs held the whole set: mail for every other
// destination waited in the time index behind one mailbox's backlog —
// the head-of-line blocking the windows exist to prevent. While
// it waits, a job lends its message's slot: the set takes one more
// claim per message with a job waiting (claimLimit) — a message has
// one slot, however many of its jobs wait —, at most max_active more,
// so the active set's memory stays bounded (twice max_active and the
// reserve's share). The job keeps its session, one connection of its own
// destination's window — that wait is its destination's alone. A
// suspect's job waiting for the suspects' turn lends its slot the same
// way (runJob): it waits for another suspect's attempt, and mail that
// counted no crash is never gated by the turn.

// WaitingTurn tells the scheduler that the job ctx carries waits for a
// mailbox's turn, until done is called; its message's slot of the
// active set is lent to due mail meanwhile. Outside a job of the
// manager (a test's direct Deliver) it does nothing.
func WaitingTurn(ctx context.Context) (done func()) {
	j, _ := ctx.Value(peerWaitKey{}).(*peerWaitJob)
	if j == nil || j.q == nil {
		return func() {}
	}
	return j.q.lendSlot(j.a)
}

// lendSlot lends the slot of the active set of a's message while a job
// of it waits on this server's own serialisation — a mailbox's turn,
// the suspects' turn (suspectgate.go: a suspect's job waits for another
// suspect's attempt, not on a peer) — until the returned function is
// called (once; again does nothing). A message has one slot: it lends
// it while one job of it or more wait, however many (a.turnLends).
func (q *Manager) lendSlot(a *attempt) (done func()) {
	s := q.sched
	s.mu.Lock()
	a.turnLends++
	first := a.turnLends == 1
	if first {
		s.turnWaits++
	}
	s.mu.Unlock()
	if first {
		q.Kick() // the loop claims due mail into the lent slot
	}
	ended := false
	return func() {
		s.mu.Lock()
		if !ended {
			ended = true
			if a.turnLends--; a.turnLends == 0 {
				s.turnWaits--
			}
		}
		s.mu.Unlock()
	}
}

// lentForTurns is how many slots of the active set messages waiting
// for a turn lend now: at most max_active. Under s.mu.
func (s *scheduler) lentForTurns(maxActive int) int { return min(s.turnWaits, maxActive) }
