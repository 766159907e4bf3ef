package queue

import (
	"context"
	"slices"
)

// Withdrawal: the operator's way into the scheduler's queues.
//
// A message claimed for delivery is Active on disk from its claim on,
// also while every job of it only waits in its destinations' queues for
// a slot of their windows (scheduler.go: dest.waiting) — behind a slow
// destination, for as long as the jobs before it take. Nothing of umbra
// runs on it then and no next hop has seen it, so the operator's
// commands (message suspend, resume, retry, remove; queue redirect and
// suspend) may change it as a Ready message; but its jobs must not start
// afterwards.
// withdraw takes such a message's jobs out of the queues, under the
// scheduler's lock, before the command's commit: no job of it can start
// from then on. The command then commits as for a Ready message (the
// stored record is read again, inside that commit: its crash count,
// which the poison heuristic counts, stays what it was). When the commit
// goes through and the record is no longer Active, the attempt ends with
// nothing to commit (its slot of the active set and its claims given
// back: end). When the commit fails, or the command left the record as
// it was (a retry of mail already due), the jobs go back where they
// were, at the head of their queues (putBack), and the scheduler's loop
// starts them as windows allow: the message lost nothing, and no crash
// between could be counted against it (no section of umbra's code was
// open on it: withdraw refuses an attempt with one).
//
// A message of which some job runs, or has answered, is in delivery:
// not withdrawn (ErrBusy for a message command; a queue command leaves
// it and its results decide) — unless no job of it reached the
// deliverer (settling.go): a message command then waits for its
// answers' commit and acts on the message after it.

// withdrawal is an attempt taken out of the scheduler's queues.
type withdrawal struct {
	a    *attempt
	jobs []*job // each with its destination (job.d), in queue order
}

// withdraw takes message id out of the scheduler's queues when every
// job of its attempt waits there for a slot; nil when it does not (not
// claimed, or in delivery).
func (q *Manager) withdraw(id ID) *withdrawal {
	s := q.sched
	s.mu.Lock()
	defer s.mu.Unlock()
	a, jobs := s.waitingWhole(id)
	if a == nil {
		return nil
	}
	a.mu.Lock()
	a.left = 0
	a.mu.Unlock()
	for _, jb := range jobs {
		d := jb.d
		d.waiting = slices.DeleteFunc(d.waiting, func(x *job) bool { return x == jb })
		if len(d.waiting) == 0 {
			d.waiting = nil
			if k := slices.Index(s.ring, d); k >= 0 {
				s.ring = slices.Delete(s.ring, k, k+1)
				if k < s.next {
					s.next--
				}
			}
		}
	}
	return &withdrawal{a: a, jobs: jobs}
}

// waitingWhole is the attempt of message id and its jobs when every
// job of it not yet answered waits for a slot (the rest were held back
// by a share: no result of theirs is lost), none ran, and no section of
// umbra's code is open on the message (its start); nil otherwise.
// Called with s.mu held.
func (s *scheduler) waitingWhole(id ID) (*attempt, []*job) {
	var a *attempt
	var jobs []*job
	for _, d := range s.dests {
		for _, jb := range d.waiting {
			if jb.a.m.ID == id {
				a = jb.a
				jobs = append(jobs, jb)
			}
		}
	}
	if a == nil {
		return nil, nil
	}
	a.mu.Lock()
	whole := a.left == len(jobs) && !a.ran && len(a.results) == 0 && a.own == 0 && a.peer == 0
	a.mu.Unlock()
	if !whole {
		return nil, nil
	}
	return a, jobs
}

// WaitingForWindow reports whether message id is claimed but waits
// whole for slots of its destinations' windows: an operator's command
// would withdraw it (the dry runs: CheckRemove, the admin API's).
func (q *Manager) WaitingForWindow(id ID) bool {
	s := q.sched
	s.mu.Lock()
	defer s.mu.Unlock()
	a, _ := s.waitingWhole(id)
	return a != nil
}

// settle ends w after the command's commit: err is the commit's error,
// changed whether that commit took the message out of delivery (its
// record no longer Active: suspended, removed, made Ready). Nil w does
// nothing.
func (w *withdrawal) settle(q *Manager, err error, changed bool) {
	if w == nil {
		return
	}
	if err != nil || !changed {
		w.putBack(q)
		return
	}
	w.end(q)
}

// end gives back what the attempt held: its claims, its slot of the
// active set and its place in the manager's wait group (start).
func (w *withdrawal) end(q *Manager) {
	id := w.a.m.ID
	if w.a.settled != nil {
		w.a.settled() // settling.go
	}
	if !q.resultsPending(id) {
		q.releaseClaims(id)
	}
	q.release()
	q.wg.Done()
}

// putBack returns the jobs to the head of their queues, in the order
// they had; the scheduler's loop starts them (run: pump) as the windows
// allow.
func (w *withdrawal) putBack(q *Manager) {
	s := q.sched
	s.mu.Lock()
	byDest := map[*dest][]*job{}
	var order []*dest
	for _, jb := range w.jobs {
		if byDest[jb.d] == nil {
			order = append(order, jb.d)
		}
		byDest[jb.d] = append(byDest[jb.d], jb)
	}
	for _, d := range order {
		if len(d.waiting) == 0 {
			s.ring = append(s.ring, d)
		}
		d.waiting = append(byDest[d], d.waiting...)
	}
	w.a.mu.Lock()
	w.a.left = len(w.jobs)
	w.a.mu.Unlock()
	s.mu.Unlock()
	if q.stopped.Load() {
		// The loop's last pump (run, at its stop) is past: these jobs
		// go back unattempted now, as it would have sent them.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		q.pump(ctx)
		return
	}
	q.Kick()
}

// queues is the queue of each withdrawn job, by recipient.
func (w *withdrawal) queues() map[int]string {
	out := map[int]string{}
	for _, jb := range w.jobs {
		for _, i := range jb.rcpts {
			out[i] = jb.d.queue
		}
	}
	return out
}

// withdrawQueue withdraws every message with a job waiting for a slot
// of a destination of queue name, wholly waiting (withdraw); the
// messages of which a job runs are left in delivery.
func (q *Manager) withdrawQueue(name string) map[ID]*withdrawal {
	s := q.sched
	s.mu.Lock()
	ids := s.onQueue(name, false) // only waiting jobs: a running one is in delivery
	s.mu.Unlock()
	out := map[ID]*withdrawal{}
	for _, id := range ids {
		if w := q.withdraw(id); w != nil {
			out[id] = w
		}
	}
	return out
}

// settleAll settles each withdrawal of ws (settle): changed says
// whether the command's commit took that message out of delivery.
func (q *Manager) settleAll(ws map[ID]*withdrawal, err error, changed func(ID) bool) {
	for id, w := range ws {
		w.settle(q, err, err == nil && changed(id))
	}
}
