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
	a         *attempt
	jobs      []*job         // each with its destination (job.d), in queue order
	rcptQueue map[int]string // queues
}

// withdraw takes message id out of the scheduler's queues when every
// job of its attempt waits there for a slot; nil when it does not (not
// claimed, or in delivery).
func (q *Manager) withdraw(id ID) *withdrawal {
	s := q.sched
	s.mu.Lock()
	defer s.mu.Unlock()
	defer q.crashOnPanic(PanicAdmin, "msg_id", id.String()) // innermost: jobs half taken out (panics.go)
	a, jobs := s.waitingWhole(id)
	if a == nil {
		return nil
	}
	gone := map[*job]bool{}
	w := takeOut(a, jobs, gone)
	s.dropJobs(gone)
	return w
}

// withdrawWhere takes out of the scheduler's queues every message that
// has a job waiting in a destination for which on says yes and of which
// every job waits whole (waitsWhole), in one walk of the queues under
// the scheduler's lock to pick them and one to gather their jobs,
// however many it takes.
func (q *Manager) withdrawWhere(on func(id ID, d *dest) bool) map[ID]*withdrawal {
	s := q.sched
	s.mu.Lock()
	defer s.mu.Unlock()
	defer q.crashOnPanic(PanicAdmin) // innermost: jobs half taken out (panics.go)
	return q.withdrawWhereLocked(on)
}

// withdrawWhereLocked is withdrawWhere with the scheduler's lock held
// (SuspendQueue sets its mark under it too).
func (q *Manager) withdrawWhereLocked(on func(id ID, d *dest) bool) map[ID]*withdrawal {
	s := q.sched
	isPicked := map[*attempt]bool{}
	var picked []*attempt
	for _, d := range s.dests {
		for _, jb := range d.waiting {
			if !isPicked[jb.a] && on(jb.a.m.ID, d) {
				isPicked[jb.a] = true
				picked = append(picked, jb.a)
			}
		}
	}
	out := map[ID]*withdrawal{}
	if len(picked) == 0 {
		return out
	}
	jobs := make(map[*attempt][]*job, len(picked))
	for _, d := range s.dests {
		for _, jb := range d.waiting {
			if isPicked[jb.a] {
				jobs[jb.a] = append(jobs[jb.a], jb)
			}
		}
	}
	gone := map[*job]bool{}
	for _, a := range picked {
		if js := jobs[a]; a.waitsWhole(len(js)) {
			out[a.m.ID] = takeOut(a, js, gone)
		}
	}
	s.dropJobs(gone)
	return out
}

// takeOut is the withdrawal of attempt a, whose every job (jobs) waits
// whole: its jobs are added to gone (dropJobs takes them out of their
// queues). Called with s.mu held.
func takeOut(a *attempt, jobs []*job, gone map[*job]bool) *withdrawal {
	a.mu.Lock()
	a.left = 0
	a.mu.Unlock()
	w := &withdrawal{a: a, jobs: jobs, rcptQueue: map[int]string{}}
	for _, jb := range jobs {
		gone[jb] = true
		for _, i := range jb.rcpts {
			w.rcptQueue[i] = jb.d.queue
		}
	}
	return w
}

// dropJobs takes the jobs of gone out of their destinations' queues, and
// a destination left with none out of the round robin (its place kept
// for the others). Called with s.mu held.
func (s *scheduler) dropJobs(gone map[*job]bool) {
	if len(gone) == 0 {
		return
	}
	emptied := map[*dest]bool{}
	for _, d := range s.dests {
		if len(d.waiting) == 0 {
			continue
		}
		d.waiting = slices.DeleteFunc(d.waiting, func(x *job) bool { return gone[x] })
		if len(d.waiting) == 0 {
			d.waiting = nil
			emptied[d] = true
		}
	}
	if len(emptied) > 0 {
		before := 0
		for k, d := range s.ring {
			if k < s.next && emptied[d] {
				before++
			}
		}
		s.ring = slices.DeleteFunc(s.ring, func(d *dest) bool { return emptied[d] })
		s.next -= before
	}
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
	if a == nil || !a.waitsWhole(len(jobs)) {
		return nil, nil
	}
	return a, jobs
}

// waitsWhole reports whether every job of a not yet answered is among
// the waiting ones it has in the scheduler's queues, none ran, no result
// is in and no section of umbra's code is open on the message (its
// start): an operator's command may withdraw it.
func (a *attempt) waitsWhole(waiting int) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.waitsWholeLocked(waiting)
}

// waitsWholeLocked is waitsWhole with a.mu held.
func (a *attempt) waitsWholeLocked(waiting int) bool {
	return a.left == waiting && !a.ran && len(a.results) == 0 && a.own == 0 && a.peer == 0
}

// asReady is the one rule for an operator's command on a message claimed
// for delivery (Active): one whose every job waits for a slot of its
// destination's window (whole: withdrawn by the command, or found so by
// its dry run) counts as Ready, as it was before its claim, and m is
// made so; any other is in delivery (ErrBusy). A message in another
// state is left as it is. The commands (change, SuspendQueue,
// RedirectQueue) and the dry runs (StateView.Refusal, CheckRemove) all
// decide by it.
func asReady(m *Message, whole bool) error {
	if m.State != Active {
		return nil
	}
	if !whole {
		return ErrBusy
	}
	m.State = Ready
	return nil
}

// WaitingForWindow reports whether message id is claimed but waits
// whole for slots of its destinations' windows: an operator's command
// would withdraw it (the dry run of a removal: CheckRemove; the admin
// API's dry runs read it from the view: StateView.Refusal).
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
		w.putBack(q, PanicAdmin)
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
// allow. A panic under the scheduler's lock crashes, counted as part
// (the operator's command, admin, or a stall's give-back, stall): the
// lock is unlocked without defer, and the jobs would be half put back.
func (w *withdrawal) putBack(q *Manager, part string) {
	s := q.sched
	s.mu.Lock()
	defer q.crashOnPanic(part, "msg_id", w.a.m.ID.String())
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
	q.noteRequeued(w.jobs...) // its notice and expiry are looked at again (the Kick below)
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

// queues is the queue of each withdrawn job, by recipient, as it was
// when withdrawn (read under the scheduler's lock: a destination's
// queue changes with its latest job).
func (w *withdrawal) queues() map[int]string { return w.rcptQueue }

// inQueue picks the jobs of queue name's destinations: a queue's
// suspension withdraws every message with a job waiting for a slot of
// one of them, wholly waiting (withdraw); the messages of which a job
// runs are left in delivery.
func inQueue(name string) func(ID, *dest) bool {
	return func(_ ID, d *dest) bool { return !d.task && d.queue == name }
}

// settleAll settles each withdrawal of ws (settle): changed says
// whether the command's commit took that message out of delivery.
func (q *Manager) settleAll(ws map[ID]*withdrawal, err error, changed func(ID) bool) {
	for id, w := range ws {
		w.settle(q, err, err == nil && changed(id))
	}
}
