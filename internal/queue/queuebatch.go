package queue

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Queue actions in batches.
//
// umbra queue resume, retry and redirect change every message of a
// queue, flush every waiting message of every queue. In one transaction
// a queue of tens of thousands of messages took longer than the client
// waits for an answer, and the command printed nothing true. So each
// selects its messages once, when the command begins (QueueSelection:
// ids, oldest first), and carries the action out in batches
// (QueueBatch), each of one or more commits of at most queueChunk
// messages, ending by its time, its last commit included (a commit is
// started only when the time left allows one of the cost measured, and
// sized to it: inChunks); each
// message is looked at again in the commit that changes it, and one
// gone or changed meanwhile is left as it is. The admin API keeps a
// command's selection between its requests, as for the bulk message
// actions.
//
// What a crash or a command cut short leaves: the commits made. A
// resume lifts the suspension in its first commit, with the first
// messages it makes due (the mark in memory goes right after, so that
// those are attempted, not held again); the messages of the queue a
// resume cut short did not reach wait for their retry time or hold
// recheck (at most holdRecheck), or the next queue resume or retry.
// A redirect's recipients move with their message's commit.

// queueChunk bounds the messages one commit of a queue action changes.
const queueChunk = 256

// QueueSelection is the messages a queue action (resume, retry, redirect
// of queue name; flush: every queue, name "") acts on, oldest first:
// those in the queue's index, the copies taken over from a failed
// primary whose route is the queue (takenOverOn), for a redirect also
// those whose jobs wait for a slot of the queue's destinations
// (withdraw.go) or run on one (left, counted: KeptInDelivery), and for a flush every message waiting for a later
// attempt (the schedule's entries after now). Keys only are read.
func (q *Manager) QueueSelection(action, name string) ([]ID, error) {
	var extra []ID
	switch action {
	case "resume", "retry", "redirect":
		states := []State{Ready}
		if action == "resume" {
			// A suspended copy keeps the queue's reply until the resume
			// clears it (resumeBatch, rt21c L2).
			states = append(states, Suspended, Poison)
		}
		if action == "redirect" {
			states = append(states, Suspended)
			// Those whose jobs wait are withdrawn and moved; those whose
			// jobs run stay, counted (KeptInDelivery), in their first
			// attempt too, when no recipient names the queue yet.
			extra = q.attemptsOn(name)
		}
		taken, err := q.takenOverOn(name, states...)
		if err != nil {
			return nil, err
		}
		extra = slices.AppendSeq(extra, maps.Keys(taken))
	case "flush":
	default:
		return nil, fmt.Errorf("%w: unknown queue action %q", ErrNotApplicable, action)
	}
	now := q.clk.Now()
	var ids []ID
	err := q.store.View(func(tx *Tx) error {
		if action != "flush" {
			ids = tx.InQueue(name, 1<<31-1)
			return nil
		}
		c := tx.schedule.Cursor()
		for k, _ := c.Seek(scheduleKey(now.Add(time.Nanosecond), 0)); k != nil; k, _ = c.Next() {
			if len(k) == 16 {
				ids = append(ids, ID(beUint64(k[8:])))
			}
		}
		return nil
	})
	ids = append(ids, extra...)
	slices.Sort(ids)
	return slices.Compact(ids), err
}

// QueueBatch carries out a queue action (QueueSelection) on ids, in
// their order, until until (zero: on all of them), each commit at most
// queueChunk messages, ending by until, its commits included
// (inChunks); the first commit goes whatever the time. first
// says the batch is its command's first: a resume lifts the suspension
// then, and a retry or flush ends every dead destination's cool-down (a
// resume ends none: it releases what was held; a redirect none: it moves
// mail to another next hop).
// It returns what it did (BatchResult).
func (q *Manager) QueueBatch(ctx context.Context, action, name, target string, ids []ID, first bool, until time.Time) (b BatchResult, err error) {
	switch action {
	case "resume":
		var madeDue []ID
		b.Changed, b.Used, madeDue, err = q.resumeBatch(ctx, name, ids, first, until)
		b.Released = q.releasedTo(madeDue) // outside the resume's lock: the planner takes its own
		if first && err == nil {
			b.HeldEach, b.HeldRestored = q.heldEachIn(name)
			b.ShadowHeld = q.shadowHeldIn(name)
		}
	case "retry":
		b.Changed, b.Used, err = q.retryBatch(ctx, name, ids, first, until)
		if first && err == nil {
			b.HeldEach, b.HeldRestored = q.heldEachIn(name)
			b.ShadowHeld = q.shadowHeldIn(name)
		}
	case "redirect":
		b, err = q.redirectBatch(ctx, name, target, ids, until)
		if first && err == nil {
			b.ShadowHeld = q.shadowHeldIn(name)
		}
	case "flush":
		b.Changed, b.Used, err = q.flushBatch(ctx, ids, first, until)
	default:
		err = fmt.Errorf("%w: unknown queue action %q", ErrNotApplicable, action)
	}
	return b, err
}

// BatchResult is what one batch of a queue action did.
type BatchResult struct {
	// Changed counts the messages it changed: for a resume, the waiting
	// messages of the queue due now; for a redirect, those moved.
	Changed int
	// Used counts the ids it went through, all committed.
	Used int
	// KeptRequireTLS counts, for a redirect, the REQUIRETLS messages it
	// left on their own route (waiting, not in delivery): no policy of
	// their domains verifies the target.
	KeptRequireTLS int
	// KeptInDelivery counts, for a redirect, the messages it left in the
	// queue because they were in delivery (an attempt running): the
	// attempt writes its results to them; a redirect after it moves them
	// (rt21c L4).
	KeptInDelivery int
	// Released is, for a resume, where the messages it made due go
	// (releasedTo): per scheduler destination ("queue:NAME" for those
	// answered or held without one), how many of them.
	Released map[string]int
	// HeldEach counts, for a resume or retry (its first batch), the
	// messages of the queue held one by one (message suspend), which
	// neither releases: umbra message resume --queue does (rt36 F2).
	HeldEach int
	// HeldRestored counts those of HeldEach a db restore holds
	// (restored suspended, Message.RestoredSuspended), not the
	// operator: the words tell them apart (HeldEachRestoredText).
	HeldRestored int
	// ShadowHeld counts, for a resume, retry or redirect of a shadow
	// queue (its first batch), the copies there still held for their
	// primary, not taken over: the action acts on the taken-over ones
	// only and leaves these alone (CheckShadowQueueAction refuses it
	// when there are no others).
	ShadowHeld int
}

// queueActionAll is a queue action on its whole selection, in one
// batch of as many commits as it takes.
func (q *Manager) queueActionAll(ctx context.Context, action, name, target string) (int, error) {
	ids, err := q.QueueSelection(action, name)
	if err != nil {
		return 0, err
	}
	b, err := q.QueueBatch(ctx, action, name, target, ids, true, time.Time{})
	return b.Changed, err
}

// chunkSteps are what a queue action does around inChunks' commits,
// each optional.
type chunkSteps struct {
	// pre runs in the first commit (even with no ids), afterFirst after
	// that commit went through.
	pre        func(tx *Tx) error
	afterFirst func()
	// before runs ahead of each commit, outside it, with the ids that
	// commit may reach (an error ends the batch, nothing of the chunk
	// done); after runs once that commit ended, with its error and how
	// many of chunk it went through (none when it failed).
	before func(chunk []ID) error
	after  func(chunk []ID, reached int, err error)
	// begin runs at the start of each run of a commit's function (it may
	// run again: what change gathered is dropped there); full says,
	// before each message but the commit's first, that the commit has
	// taken enough; gone runs, in the commit, for an id whose message is
	// not there (else skipped).
	begin func()
	full  func() bool
	gone  func(id ID)
	// tallyUnchanged: the messages a commit went through and did not
	// count are added to the command's record as left as they were (a
	// queue action's; a bulk message action's are the admin API's to
	// count: TallyUnchanged).
	tallyUnchanged bool
	// unchangedKinds, in the commit, says how many of the messages it
	// went through (reached) were left in delivery and how many were
	// REQUIRETLS messages kept on their route (a redirect's): the
	// command's record counts them apart (BulkTally.InDelivery,
	// KeptRequireTLS), so that the line a stop leaves says which to act
	// on again, as the live line does (rr24 F4).
	unchangedKinds func(reached []ID) (inDelivery, keptRequireTLS int)
}

// inChunks runs change on each message of ids in commits of at most
// queueChunk, until until, and returns how many it counted and how many
// of ids went through committed. A message gone meanwhile is skipped.
//
// The batch ends by until, its commit included: each commit is measured
// (cost), the next is started only when the time left allows one of
// that cost for a single message, its chunk is cut to the messages the
// time left allows at the rate measured, and a commit stops taking
// messages when what is left of the time is the measured cost of
// committing them (the fsync, on a loaded disk the larger part). Only
// the first commit, with nothing measured, may overrun by its own
// commit.
func (q *Manager) inChunks(ctx context.Context, ids []ID, until time.Time, st chunkSteps,
	change func(tx *Tx, m *Message) (bool, error)) (n, used int, err error) {
	var cost commitCost
	for used < len(ids) || st.pre != nil && used == 0 {
		size := queueChunk
		if used > 0 && !until.IsZero() {
			if size = cost.fits(time.Until(until)); size == 0 {
				break // no room for another commit
			}
		}
		k, end := 0, used
		chunk := ids[used:min(len(ids), used+size)]
		start := time.Now()
		var loopStart, loopEnd time.Time
		if st.before != nil {
			if err := st.before(chunk); err != nil {
				return n, used, err
			}
		}
		err = q.store.Update(ctx, func(tx *Tx) error {
			k, end = 0, used
			loopStart = time.Now()
			defer func() { loopEnd = time.Now() }()
			if st.begin != nil {
				st.begin()
			}
			if used == 0 && st.pre != nil {
				if err := st.pre(tx); err != nil {
					return err
				}
			}
			for end < used+len(chunk) {
				if end > used && (!until.IsZero() && time.Now().Add(cost.tail).After(until) || st.full != nil && st.full()) {
					break
				}
				m, err := tx.Get(ids[end])
				end++
				if errors.Is(err, ErrNotFound) {
					if st.gone != nil {
						st.gone(ids[end-1])
					}
					continue // gone since the command began
				}
				if err != nil {
					return err
				}
				counted, err := change(tx, m)
				if err != nil {
					return err
				}
				if counted {
					k++
				}
			}
			add := tallyAdd{done: k}
			if st.tallyUnchanged {
				add.unchanged = end - used - k
				if st.unchangedKinds != nil {
					add.inDelivery, add.keptRequireTLS = st.unchangedKinds(ids[used:end])
				}
			}
			return tx.addTallyOf(ctx, add) // the command's audit, with its commits (bulktally.go)
		})
		if st.after != nil {
			reached := end - used
			if err != nil {
				reached = 0
			}
			st.after(chunk, reached, err)
		}
		if err != nil {
			return n, used, err
		}
		if used == 0 && st.afterFirst != nil {
			st.afterFirst()
		}
		cost.measure(start, loopStart, loopEnd, time.Now(), end-used)
		n, used = n+k, end
		q.Kick()
		if len(ids) == 0 || !until.IsZero() && time.Now().After(until) {
			break
		}
	}
	return n, used, nil
}

// commitCost is what inChunks measured of its last commit: head, the
// time before its first message (the chunk's steps before it, the wait
// for the writer); each, per message; tail, the time after its last
// (the commit and its fsync, the steps after it).
type commitCost struct{ head, each, tail time.Duration }

func (c *commitCost) measure(start, loopStart, loopEnd, done time.Time, messages int) {
	c.head, c.tail = loopStart.Sub(start), done.Sub(loopEnd)
	if messages > 0 {
		c.each = loopEnd.Sub(loopStart) / time.Duration(messages)
	}
}

// fits is how many messages (at most queueChunk) a commit of the cost
// measured can take in left; 0 when not even one.
func (c *commitCost) fits(left time.Duration) int {
	left -= c.head + c.tail
	if left < c.each || left <= 0 {
		return 0
	}
	if c.each <= 0 {
		return queueChunk
	}
	return int(min(int64(queueChunk), int64(left/c.each)))
}

// retryBatch is a batch of RetryQueue.
func (q *Manager) retryBatch(ctx context.Context, name string, ids []ID, first bool, until time.Time) (n, used int, err error) {
	q.qmu.Lock()
	held := q.suspended[name]
	q.qmu.Unlock()
	if held {
		return 0, 0, fmt.Errorf("%w: %s holds its messages until umbra queue resume %s, which makes them due now", ErrQueueSuspended, name, name)
	}
	// A queue with nothing waiting but messages each held (message
	// suspend) has nothing a retry attempts: refused, naming what
	// releases them, not "0 messages due now" (rt36 F2).
	if first && !q.anyReady(ids) {
		if n, r := q.heldEachIn(name); n > 0 {
			return 0, 0, &heldEachError{queue: name, action: "retry", n: n, restored: r}
		}
	}
	// A batch with nothing to retry ends no cool-down (rt18e-F3): the
	// refusal above and an empty selection change nothing.
	var revived []string
	if first && len(ids) > 0 {
		revived = q.reviveDead()
	}
	defer func() { err = revivedBefore(err, revived) }() // scheduler.go: what was done before a failure
	now := q.clk.Now()
	return q.inChunks(ctx, ids, until, chunkSteps{tallyUnchanged: true}, func(tx *Tx, m *Message) (bool, error) {
		if m.State != Ready || !m.NextAttempt.After(now) {
			return false, nil
		}
		q.keepRetryNext(m, now)
		m.NextAttempt, m.ManualRetry = now, true
		return true, tx.Put(m)
	})
}

// resumeBatch is a batch of ResumeQueue.
func (q *Manager) resumeBatch(ctx context.Context, name string, ids []ID, first bool, until time.Time) (due, used int, madeDue []ID, err error) {
	q.suspendMu.Lock() // the stored mark and the one in memory change together
	defer q.suspendMu.Unlock()
	// A resume releases what was held; it ends no dead destination's
	// cool-down (rt17c F3): retry and flush are the operator's ask for an
	// attempt now.
	now := q.clk.Now()
	var pre func(tx *Tx) error
	var afterFirst func()
	q.qmu.Lock()
	held := q.suspended[name]
	q.qmu.Unlock()
	if first && !held {
		// rt18e-F4: a resume of a queue not suspended releases nothing
		// and changes nothing (umbra queue retry attempts its mail now)
		// — nor, when its messages are each held (message suspend),
		// does a retry: the refusal names what releases them (rt36 F2).
		if n, r := q.heldEachIn(name); n > 0 {
			return 0, 0, nil, &heldEachError{queue: name, action: "resume", n: n, restored: r}
		}
		return 0, 0, nil, notSuspendedError(name)
	}
	if first {
		// The suspension goes in the commit that makes the first of its
		// messages due, and the mark in memory right after it, so that
		// they are attempted, not held again.
		pre = func(tx *Tx) error { return tx.SetSuspended(name, false) }
		afterFirst = func() {
			q.qmu.Lock()
			delete(q.suspended, name)
			q.qmu.Unlock()
		}
	}
	// The messages each commit made due (its function may run again:
	// begin drops what a run gathered), kept once it went through: where
	// they go is told after the batch (releasedTo).
	var commitDue []ID
	steps := chunkSteps{pre: pre, afterFirst: afterFirst, tallyUnchanged: true,
		begin: func() { commitDue = commitDue[:0] },
		after: func(_ []ID, _ int, err error) {
			if err == nil {
				madeDue = append(madeDue, commitDue...)
			}
			commitDue = commitDue[:0]
		}}
	due, used, err = q.inChunks(ctx, ids, until, steps, func(tx *Tx, m *Message) (bool, error) {
		if m.State == Active {
			return false, nil // in delivery: its attempt writes its own reply
		}
		// The suspension's own reply (HeldReply) stops applying here
		// (rt20d-F3): the last error and the recipient's last reply
		// no longer say the queue is suspended, of a message also
		// suspended by itself (or held otherwise) too (rt21c L2); only
		// the waiting (Ready) ones are made due and counted.
		ended := endHeldReplies(m, name)
		if m.State != Ready {
			if ended {
				return false, tx.Put(m)
			}
			return false, nil
		}
		commitDue = append(commitDue, m.ID)
		if !m.NextAttempt.After(now) {
			if ended {
				return true, tx.Put(m)
			}
			return true, nil
		}
		if !ended {
			// Its next attempt a step of the schedule, not a hold's
			// recheck: the resume makes it no later (keepRetryNext).
			q.keepRetryNext(m, now)
		}
		m.NextAttempt, m.ManualRetry = now, true
		return true, tx.Put(m)
	})
	if err == nil || used > 0 {
		q.log.Info("queue resumed", "queue", name, "due", due, "more", used < len(ids))
	}
	return due, used, madeDue, err
}

// releasedTo is where the scheduler sends the messages a resume made
// due (ids): for each destination of their pending recipients, as the
// planner names it now (Plan, no I/O: the route in force, a reload's
// included — not the resumed queue's name, ops27 1), how many of them
// have a recipient there. Recipients the planner answers without a
// connection (a suspended queue, no route) count under "queue:" and the
// queue their route takes (RouteQueues), those still held in another
// suspended queue under "queue:" and that queue. nil when the deliverer
// plans nothing (every message one job without a destination) or no
// message was made due.
func (q *Manager) releasedTo(ids []ID) map[string]int {
	p, ok := q.del.(Planner)
	if !ok || len(ids) == 0 {
		return nil
	}
	rn, _ := q.del.(RouteNamer)
	var ms []*Message
	_ = q.store.View(func(tx *Tx) error {
		for _, id := range ids {
			if m, err := tx.Get(id); err == nil {
				ms = append(ms, m)
			}
		}
		return nil
	})
	out := map[string]int{}
	for _, m := range ms {
		seen := map[string]bool{}
		add := func(key string) {
			if !seen[key] {
				seen[key] = true
				out[key]++
			}
		}
		rcpts := q.attemptable(m)
		for _, i := range m.Pending() {
			if !slices.Contains(rcpts, i) {
				add("queue:" + queueOf(&m.Rcpts[i]))
			}
		}
		if len(rcpts) == 0 {
			continue
		}
		for _, j := range p.Plan(context.Background(), m, rcpts) {
			switch {
			case j.Dest != "":
				add(j.Dest)
			case rn != nil:
				for _, qn := range rn.RouteQueues(m, j.Rcpts) {
					add("queue:" + qn)
				}
			default:
				add("queue:")
			}
		}
	}
	return out
}

// endHeldReplies clears the replies of queue name's suspension
// (HeldReply) from m's pending recipients and its last error, and says
// whether it cleared one. A recipient's last reply is again the one its
// next hop gave before the hold, kept apart while held (unhold,
// heldover.go); a taken-over copy keeps its note (carryTakeover).
func endHeldReplies(m *Message, name string) bool {
	ended := false
	for i := range m.Rcpts {
		r := &m.Rcpts[i]
		if !r.Status.Done() && r.LastReply != "" && heldBy(r.LastReply) == name {
			unhold(r)
			ended = true
		}
	}
	if m.LastError != "" && heldBy(m.LastError) == name {
		m.LastError, ended = "", true
	}
	return ended
}

// notSuspendedError is the refusal of a resume of a queue not
// suspended (rt18e-F4): an action that does not apply (ErrNotApplicable),
// worded for the queue.
type notSuspendedError string

func (e notSuspendedError) Error() string {
	return fmt.Sprintf("%s is not suspended: nothing to release (umbra queue retry %s attempts its messages now)", string(e), string(e))
}

func (e notSuspendedError) Is(target error) bool { return target == ErrNotApplicable }

// alreadySuspendedError is the refusal of a suspend of a queue already
// suspended: nothing to do, refused as the resume of a queue not
// suspended is (ErrNotApplicable).
type alreadySuspendedError string

func (e alreadySuspendedError) Error() string {
	return fmt.Sprintf("%s is already suspended: nothing to suspend (umbra queue resume %s releases it)", string(e), string(e))
}

func (e alreadySuspendedError) Is(target error) bool { return target == ErrNotApplicable }

// heldEachError refuses a queue resume or retry of a queue that is not
// suspended as a queue (for a retry: with nothing waiting) whose
// messages are held one by one (message suspend): neither releases
// them, and queue list shows the queue "suspended" all the same.
type heldEachError struct {
	queue, action string
	n             int
	restored      int // of n, held by a db restore (restored suspended)
}

func (e *heldEachError) Error() string {
	what := "is not suspended as a queue: nothing to release"
	if e.action == "retry" {
		what = "has no message waiting: nothing to retry"
	}
	if e.restored > 0 && e.restored <= e.n {
		// Not the operator's hold: said so, with the warning a resume
		// of them needs (HeldEachRestoredText, the words of queue list).
		return fmt.Sprintf("%s %s — a queue %s does not release its messages: %s", e.queue, what, e.action, HeldEachRestoredText(e.queue, e.n, e.restored))
	}
	are := "messages are each held"
	if e.n == 1 {
		are = "message is held"
	}
	return fmt.Sprintf("%s %s — its %d %s (message suspend), which a queue %s does not release; umbra message resume --queue %s releases them",
		e.queue, what, e.n, are, e.action, e.queue)
}

func (e *heldEachError) Is(target error) bool { return target == ErrNotApplicable }

// anyReady reports whether a message of ids is waiting (Ready): one a
// retry can make due.
func (q *Manager) anyReady(ids []ID) bool {
	found := false
	_ = q.store.View(func(tx *Tx) error {
		for _, id := range ids {
			if m, err := tx.Get(id); err == nil && m.State == Ready {
				found = true
				return nil
			}
		}
		return nil
	})
	return found
}

// shadowHeldIn counts the copies of shadow queue name held for their
// primary (state Shadow), not taken over; 0 for any other queue.
func (q *Manager) shadowHeldIn(name string) (n int) {
	if DeliveryType(name) != "shadow" {
		return 0
	}
	_ = q.store.View(func(tx *Tx) error {
		tx.walkQueue(name, 0, func(_ ID, st State, known bool) bool {
			if known && st == Shadow {
				n++
			}
			return true
		})
		return nil
	})
	return n
}

// heldEachIn counts the messages of queue name held one by one (state
// Suspended), from the queue's index, and of them those a db restore
// holds (restoredSuspendedIn), not an operator's message suspend.
func (q *Manager) heldEachIn(name string) (n, restored int) {
	_ = q.store.View(func(tx *Tx) error {
		tx.walkQueue(name, 0, func(_ ID, st State, known bool) bool {
			if known && st == Suspended {
				n++
			}
			return true
		})
		if n > 0 {
			restored = tx.restoredSuspendedIn(name)
		}
		return nil
	})
	return n, restored
}

// flushBatch is a batch of Flush.
func (q *Manager) flushBatch(ctx context.Context, ids []ID, first bool, until time.Time) (n, used int, err error) {
	// A batch with nothing to retry ends no cool-down (rt18e-F3): the
	// refusal above and an empty selection change nothing.
	var revived []string
	if first && len(ids) > 0 {
		revived = q.reviveDead()
	}
	defer func() { err = revivedBefore(err, revived) }() // scheduler.go: what was done before a failure
	now := q.clk.Now()
	q.qmu.Lock()
	suspended := maps.Clone(q.suspended)
	q.qmu.Unlock()
	n, used, err = q.inChunks(ctx, ids, until, chunkSteps{tallyUnchanged: true}, func(tx *Tx, m *Message) (bool, error) {
		if m.State != Ready || !m.NextAttempt.After(now) {
			return false, nil
		}
		for _, i := range m.Pending() {
			if !suspended[queueOf(&m.Rcpts[i])] {
				q.keepRetryNext(m, now)
				m.NextAttempt, m.ManualRetry = now, true // no step of the retry schedule
				return true, tx.Put(m)
			}
		}
		return false, nil
	})
	q.log.Info("queues flushed", "messages", n, "more", used < len(ids))
	return n, used, err
}

// redirectBatch is a batch of RedirectQueue.
func (q *Manager) redirectBatch(ctx context.Context, name, target string, ids []ID, until time.Time) (BatchResult, error) {
	// A redirect moves mail to another next hop; it ends no dead
	// destination's cool-down (retry and flush are the operator's ask for
	// an attempt now): the old destinations' health is not its business.
	now := q.clk.Now()
	target = CanonicalRedirect(target) // one queue per target (rt18e-F2)
	to := "redirect:" + target
	var b BatchResult
	moved := map[ID]int{} // recipients moved, per message (a retried commit counts again, per message)
	kept := map[ID]bool{} // REQUIRETLS messages left on their route, likewise
	busy := map[ID]bool{} // messages in delivery left in the queue, likewise
	var ws map[ID]*withdrawal
	var taken map[ID][]int // the chunk's copies taken over whose route is name (takenOverOn)
	steps := chunkSteps{
		tallyUnchanged: true,
		unchangedKinds: func(reached []ID) (inDelivery, keptRequireTLS int) {
			for _, id := range reached {
				if busy[id] {
					inDelivery++
				}
				if kept[id] {
					keptRequireTLS++
				}
			}
			return inDelivery, keptRequireTLS
		},
		// Messages claimed and waiting for a slot of this queue's
		// destinations are taken out of the scheduler's queues before
		// the commit that changes them (withdraw.go): in their first
		// attempt their recipients name no queue yet, their jobs do.
		// Only the chunk's: a batch costs what its chunks do. So are
		// the routes of the chunk's taken-over copies named (the
		// selection found them; the chunk's own records say which).
		before: func(chunk []ID) error {
			var err error
			if taken, err = q.takenOverAmong(name, chunk, Ready, Suspended); err != nil {
				return err
			}
			in := make(map[ID]bool, len(chunk))
			for _, id := range chunk {
				in[id] = true
			}
			ws = q.withdrawWhere(func(id ID, d *dest) bool { return !d.task && d.queue == name && in[id] })
			return nil
		},
		// A withdrawn message whose commit went through and moved is
		// out of delivery; the others (not reached, not moved, a commit
		// that failed) go back where they waited. The recipients moved
		// left this queue and entered the redirect's: its IN/MIN and
		// OUT/MIN say so, as for a delivery's move.
		after: func(chunk []ID, reached int, err error) {
			done := make(map[ID]bool, reached)
			for _, id := range chunk[:reached] {
				done[id] = moved[id] > 0
				if kept[id] {
					b.KeptRequireTLS++
				}
				if busy[id] {
					b.KeptInDelivery++
				}
			}
			q.settleAll(ws, err, func(id ID) bool { return done[id] })
			q.qmu.Lock()
			for id, ok := range done {
				if !ok {
					continue
				}
				for range moved[id] {
					q.rt(name, now).out.add(now)
					q.rt(to, now).in.add(now)
				}
			}
			q.qmu.Unlock()
		},
	}
	n, used, err := q.inChunks(ctx, ids, until, steps, func(tx *Tx, m *Message) (bool, error) {
		moved[m.ID], kept[m.ID], busy[m.ID] = 0, false, false
		var jobQueue map[int]string
		if w := ws[m.ID]; w != nil && m.State == Active {
			_ = asReady(m, true) // whole, it cannot fail: withdrawn, the message is due, as before its claim
			jobQueue = w.queues()
		}
		if m.State == Active {
			// In delivery (its attempt runs): left alone, its results
			// are the attempt's to write. Counted for the CLI, which
			// says how many stayed and to redirect again (rt21c L4).
			// Selected, it has a recipient in the queue or a job on it.
			busy[m.ID] = true
			return false, nil
		}
		if m.State != Ready && m.State != Suspended {
			return false, nil // poison: left alone
		}
		if m.RequireTLS {
			// Kept on its own route (rt17d F6): a target the operator
			// names is verified by no DANE or MTA-STS policy of the
			// recipients' domains, and REQUIRETLS would fail there at
			// once (550 5.7.10). Withdrawn, it goes back where it
			// waited (steps.after: nothing moved). Counted for the
			// CLI, which says what stayed.
			kept[m.ID] = true
			return false, nil
		}
		for i := range m.Rcpts {
			r := &m.Rcpts[i]
			routed := slices.Contains(taken[m.ID], i) && strings.HasPrefix(r.Queue, "shadow:") // a taken-over copy whose route this is
			if jobQueue != nil {
				routed = jobQueue[i] == name // its waiting job's queue
			}
			if !r.Status.Done() && (queueOf(r) == name || routed) && name != to {
				r.Redirect, r.Queue = target, to
				moved[m.ID]++
				if heldBy(r.LastReply) == name {
					// It left the suspended queue: that reply no longer
					// applies (rt20d-F3); a taken-over copy keeps its
					// note (carryTakeover). The next hop's reply kept
					// beside the hold was another route's: it goes too.
					r.LastReply, r.HopReply, r.HopHost = takeoverLeft(r.LastReply), "", ""
				}
			}
		}
		if moved[m.ID] == 0 {
			return false, nil
		}
		if heldBy(m.LastError) == name {
			m.LastError = ""
		}
		if m.State == Ready {
			q.keepRetryNext(m, now)
			m.NextAttempt, m.ManualRetry = now, true
		}
		return true, tx.Put(m)
	})
	q.log.Info("queue redirected", "queue", name, "to", target, "messages", n, "kept_requiretls", b.KeptRequireTLS, "more", used < len(ids))
	b.Changed, b.Used = n, used
	return b, err
}
