package queue

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"
)

// Clients and tasks: timed work that is not a message's delivery —
// shadow redundancy's heartbeats and watch sessions to a primary — runs
// under the same scheduler as the messages. The scheduler decides when a
// client is asked (Client.Step, on its run loop's clock: at the time the
// client asked for, at once after a clock step back, at once when a
// sender starts waiting on a primary); the client decides from its
// stored state what is due and starts it with StartTask, which runs it
// as a job of its destination: inside that destination's window, shown
// with the others in Destinations and `umbra queue list`.

// Client is a part of the server whose timing the scheduler drives
// (shadow.Manager). Step starts what is due now through StartTask and
// returns how long until it wants to be asked again.
type Client interface {
	Step(ctx context.Context) time.Duration
}

// TaskRunner is what a client is given to run its work: the scheduler.
type TaskRunner interface {
	StartTask(ctx context.Context, dest, queue string, max int, fn func(context.Context) error) bool
}

var _ TaskRunner = (*Manager)(nil)

// tasks is the scheduler's bookkeeping of its clients and tasks.
type tasks struct {
	mu      sync.Mutex
	closed  bool // the run loop ended: no new task
	wg      sync.WaitGroup
	clients []Client
	next    []time.Time     // when each client asked to be stepped again
	want    []time.Duration // the wait it asked for then
	urgent  map[string]time.Time
	changed bool // a primary became urgent since the clients were stepped
}

// StartTask runs fn as a job of destination dest (at most max at once:
// its window; max 1 is one at a time) in a goroutine of its own, and
// reports whether it started: false when the window is full or the
// scheduler stopped — fn is then not called and the client asks again
// at its next step. A task is never queued: its client's timing (a
// heartbeat a timeout after the start of the last one) is kept by not
// starting late work. Its result feeds the destination's failure count
// and last error as a delivery's does — except a refusal (an error with
// a Refusal method: the peer answered and refused), which is the last
// error but no failure in a row; a failed task never makes its
// destination dead (the client's own rules judge the peer: SR-6), and a
// running one holds its window slot however long it hangs — a hung
// primary holds its own window and no one else's.
func (q *Manager) StartTask(ctx context.Context, dest, queue string, max int, fn func(context.Context) error) bool {
	t := &q.tasks
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || ctx.Err() != nil {
		return false
	}
	now := q.clk.Now()
	s := q.sched
	s.mu.Lock()
	d := s.destFor(dest, queue, max)
	d.task = true
	d.lastUse = now
	if d.busy >= d.window {
		s.mu.Unlock()
		return false
	}
	d.busy++
	d.starts = append(d.starts, now)
	s.mu.Unlock()
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		var err error
		func() {
			defer func() {
				if r := recover(); r != nil { // panics.go: a local fault, its slot back
					q.recovered(PanicTask, r, "next_hop", dest)
					err = taskPanic{r}
				}
			}()
			q.mayPanic(PanicTask)
			err = fn(ctx)
		}()
		q.taskDone(d, now, err)
	}()
	return true
}

// localFault is a task's error of this server's own making
// (shadow.LocalFault).
type localFault interface {
	error
	LocalFault()
}

// refusal is a task's error that is the peer's refusal, not its failure
// (shadow.Refusal: a primary that refuses this server's shadow session
// answered, alive).
type refusal interface {
	error
	Refusal() string
}

// taskDone gives a task's window slot back with the feedback of its
// result (never a dead mark).
func (q *Manager) taskDone(d *dest, started time.Time, err error) {
	now := q.clk.Now()
	s := q.sched
	s.mu.Lock()
	defer s.mu.Unlock()
	d.busy--
	if k := slices.Index(d.starts, started); k >= 0 {
		d.starts = slices.Delete(d.starts, k, k+1)
	}
	d.lastUse = now
	if err == nil {
		d.streak, d.cohort, d.lastErr = 0, 0, ""
		d.window = min(d.window+1, d.max)
		return
	}
	var lf localFault
	if errors.As(err, &lf) {
		// This server's own fault (a panic recovered in the session, its
		// store failing): nothing was learnt of the peer — neither a
		// success that would clear its failures in a row and widen its
		// window, nor a failure; the fault is its last error.
		d.lastErr = err.Error()
		return
	}
	var ref refusal
	if errors.As(err, &ref) {
		// The peer answered and refused (a primary refusing this
		// server's shadow session): it is up, so no failure in a row;
		// the refusal is the destination's last error for the operator.
		d.streak, d.cohort, d.lastErr = 0, 0, err.Error()
		return
	}
	d.streak++
	d.lastErr = err.Error()
	d.window = max(d.window-1, 1)
}

// TaskFailed records a failure of a running task of destination dest
// that goes on (a watch session to a primary, which opens its next
// connection a second after a failed one inside the same task): it
// counts in the destination's failures in a row and is its last error,
// as a task that ended with it — so that the row of a task that retries
// for as long as it runs does not show it running without failures
// while every try fails (rt27 F8). A refusal is the last error without a
// failure in a row (taskDone). The next success of the task, or an
// answer of its primary (primaryAnswered), clears them.
func (q *Manager) TaskFailed(dest string, err error) {
	if err == nil {
		return
	}
	s := q.sched
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.dests[dest]
	if d == nil || !d.task {
		return
	}
	d.lastUse = q.clk.Now()
	var ref refusal
	if errors.As(err, &ref) {
		d.streak, d.cohort, d.lastErr = 0, 0, err.Error()
		return
	}
	d.streak++
	d.lastErr = err.Error()
}

// stepClients asks every client whose time came (or every client, when
// a primary became urgent) to start its due work, and returns how long
// the run loop may sleep for the clients' sake.
func (q *Manager) stepClients(ctx context.Context) time.Duration {
	t := &q.tasks
	t.mu.Lock()
	clients, all := t.clients, t.changed
	t.changed = false
	t.mu.Unlock()
	wait := time.Hour
	for i, c := range clients {
		now := q.clk.Now()
		t.mu.Lock()
		next, want := t.next[i], t.want[i]
		t.mu.Unlock()
		// A next time further ahead than asked for was set before the
		// clock stepped back: due now, not after the step's length.
		if all || !now.Before(next) || next.Sub(now) > want {
			want = c.Step(ctx)
			if want <= 0 {
				want = time.Second
			}
			next = now.Add(want)
			t.mu.Lock()
			t.next[i], t.want[i] = next, want
			t.mu.Unlock()
		}
		wait = min(wait, max(next.Sub(now), 0))
	}
	return wait
}

// closeTasks refuses new tasks and waits for the running ones (their
// context has ended).
func (q *Manager) closeTasks() {
	t := &q.tasks
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.wg.Wait()
}

// urgentFor is how long a primary stays urgent after a sender started
// waiting on a copy held for it: its watch session stays open that long
// after the last such event.
const urgentFor = time.Minute

// markUrgent records that this server keeps a copy of a message it
// handed on to primary in a shadow session — a sender waiting for its
// discard (delayed acknowledgement, SR-9) or not (rt39 F1) — or that the
// primary pushed a copy on receipt (SR-17), and steps the clients at
// once when it was not urgent already: the shadow client opens its watch
// session then, not at its next step. State, not a hook: the client reads
// it with the primaries (ShadowUrgent).
func (q *Manager) markUrgent(primary string) {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	t := &q.tasks
	now := q.clk.Now()
	t.mu.Lock()
	if t.urgent == nil {
		t.urgent = map[string]time.Time{}
	}
	until, was := t.urgent[primary]
	fresh := !was || !now.Before(until)
	t.urgent[primary] = now.Add(urgentFor)
	if fresh {
		t.changed = true
	}
	t.mu.Unlock()
	if fresh {
		q.Kick()
	}
}

// markShadowedUrgent marks urgent (markUrgent) the primary of every
// recipient of rcpts kept here as a shadow copy: this server handed it
// on in a shadow session, and the primary's discard is to be fetched as
// it commits (a watch session), not at the next heartbeat.
func (q *Manager) markShadowedUrgent(rcpts []Recipient) {
	var done []string
	for _, r := range rcpts {
		if r.Status != Shadowed || r.Primary == "" || slices.Contains(done, r.Primary) {
			continue
		}
		done = append(done, r.Primary)
		q.markUrgent(r.Primary)
	}
}

// ShadowUrgent returns until when a sender waits on each urgent primary
// (markUrgent); the expired are forgotten.
func (q *Manager) ShadowUrgent() map[string]time.Time {
	t := &q.tasks
	now := q.clk.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]time.Time, len(t.urgent))
	for p, until := range t.urgent {
		if !now.Before(until) {
			delete(t.urgent, p)
			continue
		}
		out[p] = until
	}
	return out
}

// A task destination's row (queue destinations) follows its primary,
// whose tasks alone update it: the failures in a row and last error of
// its heartbeats would otherwise stay as the last task left them — a
// primary that failed, came back and is never asked again (this server
// holds nothing of it) listed as failing for as long as the row lived.
// So a completed contact with the primary, or a copy it pushed
// (primaryAnswered), clears the failures of every task destination of
// the primary, and an idle task destination whose queue holds nothing
// (no copy, taken over or not: no task of it will run again) is not
// listed and is forgotten (Destinations).

// primaryAnswered clears the failures and the last error of the task
// destinations of primary: it answered.
func (q *Manager) primaryAnswered(primary string) {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	s := q.sched
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.dests {
		if d.task && d.queue == "shadow:"+primary {
			d.streak, d.cohort, d.lastErr = 0, 0, ""
		}
	}
}

// idleTaskQueues lists the queues of the idle task destinations; s.mu
// held.
func (s *scheduler) idleTaskQueues() map[string]bool {
	var out map[string]bool
	for _, d := range s.dests {
		if d.task && d.busy == 0 && len(d.waiting) == 0 {
			if out == nil {
				out = map[string]bool{}
			}
			out[d.queue] = true
		}
	}
	return out
}
