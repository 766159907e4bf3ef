package queue

import (
	"context"
	"errors"
	"slices"
	"sort"
	"strings"
	"time"
)

// Management operations for the operator (admin API). Each is one
// transaction; none touches a message that is being delivered.

// ErrBusy is returned for a change to a message that is in delivery.
var ErrBusy = errors.New("message is being delivered; try again in a moment")

// holdRecheck is how long a message whose every pending recipient waits in
// a suspended queue stays parked; resuming the queue makes it due at once.
const holdRecheck = time.Hour

// queueOf is the queue a pending recipient waits in.
func queueOf(r *Recipient) string {
	if r.Queue == "" {
		return QueueSubmission
	}
	return r.Queue
}

// lastReplyIn is the last reply of m's first pending recipient waiting in
// queue name that has one ("" if none).
func lastReplyIn(m *Message, name string) string {
	for i := range m.Rcpts {
		if r := &m.Rcpts[i]; !r.Status.Done() && queueOf(r) == name && r.LastReply != "" {
			return r.LastReply
		}
	}
	return ""
}

// CurrentError is the last error of m that still applies, as the
// operator is shown it (message list and show, the console): for a
// message set aside (poison, damaged) the reason it was, m.LastError,
// and for one a restore holds (RestoredSuspended) why it holds it;
// else the reply of a recipient still pending — m.LastError when one
// still has it (the newest deferral), else the first pending one's last
// reply, which message show lists — or "" when none has one. m.LastError
// alone went stale: an attempt that handed on some recipients left the
// error of another attempt standing, and an operator's resume cleared
// it while a pending recipient's deferral stood. A hold does not hide
// the next hop's last reply (dsnlast47): a recipient held in a
// suspended queue shows the hold, then the reply its next hop gave
// before it (heldShown); a poison message why it was set aside, then
// that last reply (PendingReply).
func CurrentError(m *Message) string {
	if m.State == Damaged || m.RestoredSuspended() {
		return m.LastError
	}
	if m.State == Poison {
		if last := PendingReply(m); last != "" && m.LastError != "" && !strings.Contains(m.LastError, last) {
			return m.LastError + lastReplyText + last
		}
		return m.LastError
	}
	return PendingReply(m)
}

// PendingReply is the last reply of m's recipients still to deliver as
// the operator reads it (CurrentError): the one the message's last
// error names when a recipient still has it (the newest deferral), else
// the first such recipient's; a held recipient's with the next hop's
// reply kept beside its hold (heldShown); "" when none has one.
func PendingReply(m *Message) string {
	first := ""
	for i := range m.Rcpts {
		r := &m.Rcpts[i]
		if r.Status.Done() || r.LastReply == "" {
			continue
		}
		if r.LastReply == m.LastError {
			return heldShown(*r, m.LastError)
		}
		if first == "" {
			first = heldShown(*r, r.LastReply)
		}
	}
	return first
}

// attemptable lists the pending recipients whose queue is not suspended.
func (q *Manager) attemptable(m *Message) []int {
	q.qmu.Lock()
	defer q.qmu.Unlock()
	var out []int
	for _, i := range m.Pending() {
		if !q.suspended[queueOf(&m.Rcpts[i])] {
			out = append(out, i)
		}
	}
	return out
}

// hold parks a message whose recipients all wait in suspended queues;
// one with nothing left to attempt is removed or is a copy again
// (shadowadmin.go).
func (q *Manager) hold(m *Message) { q.holdSettled(context.Background(), m) }

// queueRuntime is what the manager remembers of a queue between attempts.
type queueRuntime struct {
	lastError   string
	lastAttempt time.Time
	// in and out count the recipients entering and leaving the queue in
	// the last minute (IN/MIN, OUT/MIN of queue list and the console).
	in, out minuteWindow
}

// minuteWindow counts events of the last 60 seconds, in one-second
// buckets: the count read at any moment covers exactly the minute before
// it, so mail that just arrived is counted at once.
type minuteWindow struct {
	sec [60]int64 // the second each bucket counts (Unix time)
	n   [60]int
}

func (w *minuteWindow) add(now time.Time) { w.addN(now, 1) }

// addN counts n events at now.
func (w *minuteWindow) addN(now time.Time, n int) {
	if n <= 0 {
		return
	}
	s := now.Unix()
	i := s % 60
	if w.sec[i] != s {
		w.sec[i], w.n[i] = s, 0
	}
	w.n[i] += n
}

// count is the number of events in the 60 seconds up to now.
func (w *minuteWindow) count(now time.Time) int {
	s, n := now.Unix(), 0
	for i := range w.sec {
		if w.sec[i] > s-60 && w.sec[i] <= s {
			n += w.n[i]
		}
	}
	return n
}

func (q *Manager) rt(name string, now time.Time) *queueRuntime {
	r := q.runtime[name]
	if r == nil {
		r = &queueRuntime{}
		q.runtime[name] = r
	}
	return r
}

// noteResults updates the per-queue runtime from an attempt's results: a
// recipient that is done leaves its queue (outgoing); a deferred one that
// was routed to another queue moves there (outgoing here, incoming there).
// The queues' last errors are the results' too, but only once they are
// committed: the caller runs the function it returns after the commit
// (queue list's LAST ERROR read a deferral whose commit was set aside,
// result_commit_delay, or failed — message list, reading the record,
// the error before it: poison45 item 4; and a crash loses such results).
func (q *Manager) noteResults(m *Message, results []Result, now time.Time) (committed func()) {
	q.qmu.Lock()
	defer q.qmu.Unlock()
	type lastError struct{ queue, err string }
	var errs []lastError
	committed = func() {
		q.qmu.Lock()
		defer q.qmu.Unlock()
		for _, e := range errs {
			q.rt(e.queue, now).lastError = e.err
		}
	}
	for _, res := range results {
		if res.Rcpt < 0 || res.Rcpt >= len(m.Rcpts) {
			continue
		}
		prev := queueOf(&m.Rcpts[res.Rcpt])
		if res.entered != "" {
			prev = res.entered // counted into its job's queue at the plan (noteEntered)
		}
		name := res.Queue
		if name == "" {
			name = prev
		}
		// A recipient taken over from a failed primary stays in that
		// primary's shadow queue until a route takes it (finish): a
		// deferral moves it nowhere (an OUT of the shadow queue each
		// retry showed copies leaving that were all still there).
		stays := strings.HasPrefix(prev, "shadow:") && (res.Outcome == Deferred || res.Outcome == deadWait)
		if res.Outcome == Held || res.Outcome == throttled {
			if name != prev {
				q.rt(prev, now).out.add(now)
				q.rt(name, now).in.add(now)
			}
			continue
		}
		r := q.rt(name, now)
		r.lastAttempt = now
		if res.Outcome != Deferred && res.Outcome != deadWait {
			errs = append(errs, lastError{name, ""})
			if res.Outcome == ShadowedOK || res.Outcome == GivenBack {
				// Handed on with a copy kept here: it waits in the
				// shadow queue of the server that holds it now (a copy
				// given back to its primary from its own shadow queue
				// stays where it was).
				if to := "shadow:" + res.Primary; to != prev {
					q.rt(prev, now).out.add(now)
					q.rt(to, now).in.add(now)
				}
				continue
			}
			q.rt(prev, now).out.add(now)
			continue
		}
		errs = append(errs, lastError{name, res.Reply})
		if name != prev && !stays {
			q.rt(prev, now).out.add(now)
			r.in.add(now)
		}
	}
	return committed
}

// noteEntered counts, at the plan of a's jobs, each recipient of a first
// attempt (firstAttempt: every pending one still in submission, no queue
// named before its results do) into the queue of the job that runs or
// waits for it, and out of submission — where queue list and message list show it from then on
// (firstAttemptsIn) — and notes it in a.entered, so that its result
// moves it from there, counted once (rt31d F3: IN/MIN left the first
// attempts out, rising only at the first deferral).
func (q *Manager) noteEntered(a *attempt, jobs []Job, now time.Time) {
	m := a.m
	if !firstAttempt(m) {
		// Listed where its record names each recipient (firstAttemptsOf
		// moves a first attempt alone): one still in submission beside
		// one a result named a queue stays in submission until its own
		// result moves it (noteResults), as queue list counts it.
		return
	}
	q.qmu.Lock()
	defer q.qmu.Unlock()
	for _, j := range jobs {
		if j.Queue == "" || j.Queue == QueueSubmission {
			continue
		}
		for _, i := range j.Rcpts {
			if i < 0 || i >= len(m.Rcpts) || m.Rcpts[i].Status.Done() || queueOf(&m.Rcpts[i]) != QueueSubmission {
				continue
			}
			if _, seen := a.entered[i]; seen {
				continue
			}
			if a.entered == nil {
				a.entered = map[int]string{}
			}
			a.entered[i] = j.Queue
			q.rt(QueueSubmission, now).out.add(now)
			q.rt(j.Queue, now).in.add(now)
		}
	}
}

// RecipientQueue is the queue the views show recipient r in (message
// show and list, the console, the API): its primary's shadow queue
// while it is a copy (Shadowed), as QueuesOf files it and message list
// --queue finds it, else the queue it waits in or was finished through
// (Recipient.Queue) — one answer in every view (rt21a L2: message show
// gave a copy's recipient no queue).
func RecipientQueue(r *Recipient) string {
	if r.Status == Shadowed {
		return waitsIn(r)
	}
	return r.Queue
}

// waitsIn is the queue a recipient waits in, as QueuesOf files it: its
// primary's shadow queue while it is a copy (Shadowed), else queueOf's.
func waitsIn(r *Recipient) string {
	if r.Status == Shadowed {
		return "shadow:" + r.Primary
	}
	return queueOf(r)
}

// noteArrivedCopies counts the n recipients of copies kept here for a
// primary as they enter its shadow queue, at their arrival.
func (q *Manager) noteArrivedCopies(primary string, n int) {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	if n <= 0 {
		return
	}
	now := q.clk.Now()
	q.qmu.Lock()
	defer q.qmu.Unlock()
	q.rt("shadow:"+primary, now).in.addN(now, n)
}

// noteLeft counts the recipients that left each queue of left (a
// primary's discard settled them), once their commit returned.
func (q *Manager) noteLeft(left map[string]int) {
	if len(left) == 0 {
		return
	}
	now := q.clk.Now()
	q.qmu.Lock()
	defer q.qmu.Unlock()
	for name, n := range left {
		q.rt(name, now).out.addN(now, n)
	}
}

func (q *Manager) noteSubmitted(now time.Time) {
	q.qmu.Lock()
	q.rt(QueueSubmission, now).in.add(now)
	q.qmu.Unlock()
}

// QueueInfo describes one queue for the operator.
type QueueInfo struct {
	Name         string         `json:"name"`
	DeliveryType string         `json:"delivery_type"`
	Status       string         `json:"status"` // QueueStatuses
	Count        int            `json:"message_count"`
	ByState      map[string]int `json:"by_state"`
	OldestAge    time.Duration  `json:"oldest_age_ns"`
	LastError    string         `json:"last_error,omitempty"`
	NextRetry    time.Time      `json:"next_retry,omitzero"`
	// Suspended: the queue itself is suspended (queue suspend), as
	// umbra_queues_suspended counts it — not merely shown "suspended"
	// because every message in it was suspended one by one.
	Suspended bool `json:"suspended,omitempty"`
	// RestoredSuspended: of the ByState["suspended"] messages, those a
	// restore holds (Message.RestoredSuspended), not the operator: the
	// database it replaced no longer held them to deliver, and a resume
	// may deliver one a second time.
	RestoredSuspended int `json:"restored_suspended,omitempty"`
	// Recipients that entered (left) the queue in the 60 s before the
	// listing: one count for queue list, the console and the API.
	IncomingRate int `json:"incoming_per_minute"`
	OutgoingRate int `json:"outgoing_per_minute"`
	// WaitingOn: of the messages attempted through the queue now, the
	// longest wait on a host in a step of its session (Stall: the host,
	// the step, since when), and WaitingOnHost how many messages wait
	// so; none when no attempt does.
	WaitingOn     *Stall `json:"waiting_on,omitempty"`
	WaitingOnHost int    `json:"waiting_on_host,omitempty"`
}

// waitsByQueue is, of each queue, the longest wait on a host of the
// messages attempted through it (jobs: jobViews) and how many wait so.
func waitsByQueue(jobs map[ID]*jobView) map[string]*QueueInfo {
	out := map[string]*QueueInfo{}
	for _, v := range jobs {
		counted := map[string]bool{}
		for _, st := range v.stalls {
			w := out[st.queue]
			if w == nil {
				w = &QueueInfo{}
				out[st.queue] = w
			}
			if w.WaitingOn == nil || st.Since.Before(w.WaitingOn.Since) {
				s := st.Stall
				w.WaitingOn = &s
			}
			if !counted[st.queue] {
				counted[st.queue] = true
				w.WaitingOnHost++
			}
		}
	}
	return out
}

// DeliveryType names the kind of a queue from its name.
func DeliveryType(queue string) string {
	kind, _, _ := strings.Cut(queue, ":")
	switch kind {
	case "mx":
		return "smtp-mx"
	case "smarthost":
		return "smtp-smart-host"
	case "mailbox":
		return "mailbox"
	case "redirect":
		return "smtp-redirect"
	case "site":
		return "site"
	case "shadow":
		return "shadow"
	case "legacy":
		return "legacy"
	case "dumpster":
		return "dumpster"
	case QueueSubmission, QueuePoison, "unreachable", QueueQuarantine, QueueDamaged:
		return kind
	}
	return "other"
}

// nextRetryScan bounds how many whole records of one queue are read to
// find its stored error (Queues); its counts and next retry read every
// Ready record's retry fields (readyRetryFields).
const nextRetryScan = 10000

// readyNext is a Ready record's id and next attempt, as Queues orders
// them to read the stored error of the most recently deferred first.
type readyNext struct {
	id   ID
	next time.Time
}

// firstAttemptsIn counts, in tx, each message in its first attempt —
// Active, every pending recipient still in submission, no queue named
// before its results do — in the queues of the destinations its jobs
// wait for or run on (jobs), as message list --queue finds it
// (attemptsOn), and no longer in submission: a first-attempt backlog
// behind a slow destination shows where it waits. A submission queue
// left empty is not listed.
func firstAttemptsIn(tx *Tx, out []QueueInfo, jobs map[ID]*jobView, now time.Time) []QueueInfo {
	at := map[string]int{}
	for i := range out {
		at[out[i].Name] = i
	}
	fa := firstAttemptsOf(tx, jobs)
	for _, mv := range fa.moves {
		for _, name := range mv.job.queues() {
			k, ok := at[name]
			if !ok {
				out = append(out, QueueInfo{Name: name, DeliveryType: DeliveryType(name), ByState: map[string]int{}})
				k = len(out) - 1
				at[name] = k
			}
			out[k].Count++
			if mv.job.waitQueues[name] && !mv.job.runQueues[name] {
				out[k].ByState["waiting"]++ // its job here waits for a slot (StateView)
			} else {
				out[k].ByState[Active.String()]++
			}
			out[k].OldestAge = max(out[k].OldestAge, mv.id.Age(now))
		}
	}
	k, ok := at[QueueSubmission]
	if !ok || fa.fromSubmission == 0 {
		return out
	}
	sub := &out[k]
	sub.Count -= fa.fromSubmission
	for st, n := range fa.fromSubmissionIn {
		if sub.ByState[st.String()] -= n; sub.ByState[st.String()] <= 0 {
			delete(sub.ByState, st.String())
		}
	}
	sub.OldestAge = 0
	if fa.oldestLeft != 0 {
		sub.OldestAge = fa.oldestLeft.Age(now)
	}
	if sub.Count <= 0 {
		out = slices.Delete(out, k, k+1)
	}
	return out
}

// firstAttempts is where the messages in their first attempt are counted
// (firstAttemptsIn, Store.QueueStats): each in the queues of its job (moves),
// and no longer in submission — how many of them the submission index
// holds, by their state there, and the oldest id it holds besides them.
type firstAttempts struct {
	moves            []firstAttemptMove
	fromSubmission   int
	fromSubmissionIn map[State]int
	oldestLeft       ID // 0: none left
}

type firstAttemptMove struct {
	id  ID
	job *jobView
}

// firstAttemptsOf finds, in tx, the messages of jobs (nil: none) in
// their first attempt. Its cost grows with the jobs, not with the
// submission queue: one record and one index key read per job, and the
// submission index walked only past the moved ids to the oldest one left.
func firstAttemptsOf(tx *Tx, jobs map[ID]*jobView) firstAttempts {
	fa := firstAttempts{fromSubmissionIn: map[State]int{}}
	moved := map[ID]bool{}
	for id, j := range jobs {
		if m, err := tx.Get(id); err != nil || !firstAttempt(m) {
			continue
		}
		fa.moves = append(fa.moves, firstAttemptMove{id: id, job: j})
		moved[id] = true
		if v := tx.qidx.Get(queueKey(QueueSubmission, id)); len(v) == 1 {
			fa.fromSubmission++
			fa.fromSubmissionIn[State(v[0])]++
		}
	}
	if fa.fromSubmission == 0 {
		return fa
	}
	// In id order: the first not moved is the oldest left; at most
	// fromSubmission ids come before it.
	for _, id := range tx.InQueue(QueueSubmission, fa.fromSubmission+1) {
		if !moved[id] {
			fa.oldestLeft = id
			break
		}
	}
	return fa
}

// waitingIn counts, of the messages the index holds Active in queue
// name, those in their attempt that wait there (jobView.waitsIn): queue
// list's "waiting" and the gauges' state "waiting" (QueueStats.Waiting),
// one count for both.
func waitingIn(tx *Tx, name string, jobs map[ID]*jobView) int {
	n := 0
	for id, j := range jobs {
		if v := tx.qidx.Get(queueKey(name, id)); len(v) != 1 || State(v[0]) != Active {
			continue
		}
		if j.waitsIn(name, func() *Message {
			m, err := tx.Get(id)
			if err != nil {
				return nil
			}
			return m
		}) {
			n++
		}
	}
	return n
}

// QueueStats is the queues' summary for the queue gauges (Tx.Queues,
// with Retry as WaitingRetry gives it: exact, every Ready record's
// retry fields read), each message in its first attempt counted as queue list
// counts it (firstAttemptsOf): Active in the queues of the destinations
// its jobs wait for or run on, and no longer in submission (rt18c-F7:
// the gauges said submission for a backlog queue list showed behind
// its destination). q is the Manager over s, nil before it exists (no
// job runs then: the index's counts as they are).
func (s *Store) QueueStats(q *Manager) ([]QueueStats, error) {
	now := time.Now()
	var jobs map[ID]*jobView
	if q != nil {
		now = q.clk.Now()
		jobs = q.jobViews() // before the store, as Queues reads them
	}
	var qs []QueueStats
	err := s.View(func(tx *Tx) error {
		qs = tx.Queues()
		for i := range qs {
			if qs[i].ByState[Ready] > 0 {
				qs[i].Retry = tx.WaitingRetry(qs[i].Name, now)
			}
			// A message in its attempt whose jobs here all wait for a
			// slot of the destination is "waiting" here, as queue list
			// counts it (Queues; rt31d F3: the gauge said 4 active where
			// the list said 1 active, 3 waiting).
			if qs[i].ByState[Active] > 0 {
				qs[i].Waiting = waitingIn(tx, qs[i].Name, jobs)
			}
		}
		at := map[string]int{}
		for i := range qs {
			at[qs[i].Name] = i
		}
		fa := firstAttemptsOf(tx, jobs)
		for _, mv := range fa.moves {
			for _, name := range mv.job.queues() {
				k, ok := at[name]
				if !ok {
					qs = append(qs, QueueStats{Name: name, ByState: map[State]int{}, Oldest: mv.id})
					k = len(qs) - 1
					at[name] = k
				}
				qs[k].Count++
				qs[k].ByState[Active]++
				if mv.job.waitQueues[name] && !mv.job.runQueues[name] {
					qs[k].Waiting++ // its job here waits for a slot (firstAttemptsIn)
				}
				qs[k].Oldest = min(qs[k].Oldest, mv.id)
				if w := qs[k].OldestWaiting; w == 0 || mv.id < w { // in its attempt: waiting, not suspended
					qs[k].OldestWaiting = mv.id
				}
			}
		}
		k, ok := at[QueueSubmission]
		if !ok || fa.fromSubmission == 0 {
			return nil
		}
		sub := &qs[k]
		sub.Count -= fa.fromSubmission
		for st, n := range fa.fromSubmissionIn {
			if sub.ByState[st] -= n; sub.ByState[st] <= 0 {
				delete(sub.ByState, st)
			}
		}
		sub.Oldest = fa.oldestLeft
		// The oldest left that is not suspended by itself, past the
		// moved ones as oldestLeft is found.
		moved := make(map[ID]bool, len(fa.moves))
		for _, mv := range fa.moves {
			moved[mv.id] = true
		}
		sub.OldestWaiting = 0
		tx.walkQueue(QueueSubmission, 0, func(id ID, st State, known bool) bool {
			if moved[id] || known && st == Suspended {
				return true
			}
			sub.OldestWaiting = id
			return false
		})
		if sub.Count <= 0 {
			qs = slices.Delete(qs, k, k+1)
		}
		return nil
	})
	return qs, err
}

// Queues lists every queue with its counts, status and runtime.
func (q *Manager) Queues() ([]QueueInfo, error) {
	now := q.clk.Now()
	var out []QueueInfo
	waiting := map[string][2]int{} // due now, waiting for a retry
	stored := map[string]string{}
	// Read before the store: a message it names and the store no longer
	// has Active is skipped. Where a message's jobs only wait, it is
	// "waiting" there.
	jobs := q.jobViews()
	// A queue whose every destination is dead is attempted when the
	// cool-down ends: its next retry is no earlier (rt21c L6).
	cool := q.coolingDown(now)
	// A queue this process has tried has its last error in memory: its
	// stored one is not looked for (a sort and record reads per queue).
	tried := map[string]bool{}
	q.qmu.Lock()
	for name, r := range q.runtime {
		tried[name] = r.lastError != ""
	}
	q.qmu.Unlock()
	err := q.store.View(func(tx *Tx) error {
		seen := map[string]bool{}
		for _, st := range tx.Queues() {
			seen[st.Name] = true
			qi := QueueInfo{Name: st.Name, DeliveryType: DeliveryType(st.Name), Count: st.Count,
				ByState: map[string]int{}, OldestAge: st.Oldest.Age(now)}
			for s, n := range st.ByState {
				qi.ByState[s.String()] = n
			}
			// A message in its attempt whose jobs here all wait for a
			// slot of the destination (none runs here) is "waiting"
			// here, as its recipients here show (StateView).
			if qi.ByState[Active.String()] > 0 {
				if n := waitingIn(tx, st.Name, jobs); n > 0 {
					qi.ByState[Active.String()] -= n
					qi.ByState["waiting"] += n
				}
			}
			if qi.ByState[Active.String()] == 0 {
				delete(qi.ByState, Active.String())
			}
			// The queue counts its messages in the states the operator
			// sees them in (DisplayState), every Ready one of them: a
			// count bounded by a scan showed a dead destination's
			// 12,000 as 10,000 retry and the rest ready (fixd19). Of
			// each record only its retry fields are read.
			due, retry := 0, 0
			var byNext []readyNext
			tx.readyRetryFields(st.Name, func(id ID, f retryFields) {
				if qi.NextRetry.IsZero() || f.next.Before(qi.NextRetry) {
					qi.NextRetry = f.next
				}
				switch {
				case f.waitsForRetry(now):
					retry++
				case !f.next.After(now):
					due++
				}
				if !tried[st.Name] {
					byNext = append(byNext, readyNext{id, f.next})
				}
			})
			// The stored error of the queue: the last reply of its
			// recipient in the most recently deferred message (the
			// latest next attempt), for a queue the running process
			// has not tried yet (after a restart). The Ready ones only:
			// a queue of suspended or held records first must not hide
			// them (rt17c F3). Whole records are read latest next
			// first, until one has a reply here: usually one, at most
			// nextRetryScan (of equal next attempts, the oldest id first).
			slices.SortStableFunc(byNext, func(a, b readyNext) int { return b.next.Compare(a.next) })
			for _, r := range byNext[:min(len(byNext), nextRetryScan)] {
				m, err := tx.Get(r.id)
				if err != nil || m.State != Ready {
					continue
				}
				if e := lastReplyIn(m, st.Name); e != "" {
					stored[st.Name] = e
					break
				}
			}
			if retry > 0 {
				qi.ByState["retry"] = retry
				if qi.ByState["ready"] -= retry; qi.ByState["ready"] <= 0 {
					delete(qi.ByState, "ready")
				}
			}
			if end := cool[st.Name]; !qi.NextRetry.IsZero() && end.After(qi.NextRetry) {
				qi.NextRetry = end
			}
			if qi.ByState[Suspended.String()] > 0 {
				qi.RestoredSuspended = tx.restoredSuspendedIn(st.Name)
			}
			waiting[st.Name] = [2]int{due, retry}
			out = append(out, qi)
		}
		// The dumpster of each mailbox database is listed as a queue too
		// copies kept, never delivered from there.
		for db, st := range tx.DumpsterStats() {
			qi := QueueInfo{Name: "dumpster:" + db, DeliveryType: "dumpster", Count: int(st.Messages), ByState: map[string]int{"kept": int(st.Messages)}}
			tx.DumpsterScan(db, time.Time{}, func(e DumpsterEntry) bool { qi.OldestAge = max(0, now.Sub(e.Key.KeptAt)); return false })
			out = append(out, qi)
		}
		q.qmu.Lock()
		for name := range q.suspended {
			if !seen[name] {
				out = append(out, QueueInfo{Name: name, DeliveryType: DeliveryType(name), ByState: map[string]int{}})
			}
		}
		q.qmu.Unlock()
		out = firstAttemptsIn(tx, out, jobs, now)
		return nil
	})
	waits := waitsByQueue(jobs)
	q.qmu.Lock()
	defer q.qmu.Unlock()
	for i := range out {
		qi := &out[i]
		if w := waits[qi.Name]; w != nil {
			qi.WaitingOn, qi.WaitingOnHost = w.WaitingOn, w.WaitingOnHost
		}
		if r := q.runtime[qi.Name]; r != nil {
			qi.LastError, qi.IncomingRate, qi.OutgoingRate = r.lastError, r.in.count(now), r.out.count(now)
		}
		if qi.LastError == "" && qi.Count > 0 {
			qi.LastError = stored[qi.Name]
		}
		qi.Suspended = q.suspended[qi.Name]
		switch {
		case qi.DeliveryType == "dumpster":
			qi.Status = "kept"
		case qi.DeliveryType == QueueQuarantine:
			qi.Status = "held" // until the operator releases or deletes (quarantine.go)
		case qi.DeliveryType == QueueDamaged:
			qi.Status = "damaged" // records that do not decode, until the operator removes them (damaged.go)
		case qi.Name == QueuePoison:
			// Nothing is delivered from it: its messages wait for the
			// operator (message resume|remove), as each shows "poison".
			qi.Status = "poison"
		case q.suspended[qi.Name]:
			qi.Status = "suspended"
			// Nothing is attempted before a resume: no next retry to
			// show (rt26 F5), as message show gives none for its mail.
			qi.NextRetry = time.Time{}
			// Its ready messages are not attempted from here: they
			// are "held", as each message (StateView) and each of
			// its recipients waiting here shows.
			if n := qi.ByState["ready"] + qi.ByState["retry"]; n > 0 {
				qi.ByState["held"] = n
				delete(qi.ByState, "ready")
				delete(qi.ByState, "retry")
			}
		case qi.ByState["active"] > 0:
			qi.Status = "active"
		case qi.ByState["waiting"] > 0 && qi.ByState["ready"]+qi.ByState["retry"] == 0:
			// Its messages in their attempt wait for a slot of the
			// destination's window, and none runs here.
			qi.Status = "waiting"
		case qi.ByState["suspended"] > 0 && qi.ByState["ready"]+qi.ByState["retry"]+qi.ByState["shadow"] == 0:
			// Every message here is held by its own suspension
			// (message suspend): nothing is ready, and "ready" (which
			// status=ready lists) said otherwise.
			qi.Status = "suspended"
		case qi.ByState["shadow"] > 0 && qi.ByState["ready"]+qi.ByState["retry"] == 0:
			// Copies kept for their primary, none taken over: nothing
			// here is this server's to deliver (rt24 F4). Taken-over
			// copies make the queue ready (or retry) as any other.
			qi.Status = "shadow"
		case waiting[qi.Name][1] > 0 && waiting[qi.Name][0] == 0:
			// Every waiting message waits for a retry, as each shows.
			qi.Status = "retry"
		case qi.LastError != "" && qi.Count > 0 && waiting[qi.Name][0] == 0:
			qi.Status = "retry"
		default:
			qi.Status = "ready"
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// SuspendQueue stops delivery of the recipients waiting in a queue; it
// survives restarts.
func (q *Manager) SuspendQueue(ctx context.Context, name string) error {
	q.suspendMu.Lock() // the stored mark and the one in memory change together
	defer q.suspendMu.Unlock()
	// A second suspend has nothing to do: refused, as a resume of a
	// queue not suspended and a suspend of a suspended message are
	// (ErrNotApplicable, exit 1), nothing changed and nothing logged.
	q.qmu.Lock()
	already := q.suspended[name]
	q.qmu.Unlock()
	if already {
		return alreadySuspendedError(name)
	}
	// Messages claimed and waiting for a slot of the queue's
	// destinations are taken out of the scheduler's queues (withdraw.go)
	// and are Ready again in the suspension's commit: their next claim
	// finds the queue suspended and holds them, instead of their jobs
	// taking the queue's slots when the jobs ahead end.
	// The mark in memory first: a claim from now on (those withdrawn,
	// once Ready) holds the queue's recipients; a failed commit takes it
	// back. The mark and the withdrawal are one step under the
	// scheduler's lock, which every job's start takes (pump): a window
	// that frees between them (a running job of the queue ending) would
	// otherwise start a waiting job in the queue just suspended.
	s := q.sched
	var was bool
	var ws map[ID]*withdrawal
	func() {
		s.mu.Lock()
		// Innermost: a panic here may leave the lock held (an operator's
		// action, whose panic the admin API's server would recover) or
		// the mark set and the withdrawal half made: crash (panics.go).
		defer q.crashOnPanic(PanicAdmin, "queue", name)
		q.qmu.Lock()
		was = q.suspended[name]
		q.suspended[name] = true
		q.qmu.Unlock()
		if f := s.suspendHook.Load(); f != nil {
			(*f)()
		}
		ws = q.withdrawWhereLocked(inQueue(name))
		s.mu.Unlock()
	}()
	err := q.store.Update(ctx, func(tx *Tx) error {
		if err := tx.SetSuspended(name, true); err != nil {
			return err
		}
		for id := range ws {
			m, err := tx.Get(id)
			if err != nil {
				return err
			}
			if m.State != Active {
				continue
			}
			_ = asReady(m, true) // whole, it cannot fail: withdrawn, the message is due, as before its claim
			if err := tx.Put(m); err != nil {
				return err
			}
		}
		return nil
	})
	q.settleAll(ws, err, func(ID) bool { return true })
	if err != nil {
		if !was {
			q.qmu.Lock()
			delete(q.suspended, name)
			q.qmu.Unlock()
		}
		return err
	}
	q.Kick()
	q.log.Info("queue suspended", "queue", name)
	return nil
}

// ResumeQueue lifts a suspension and makes the queue's messages due now
// (it ends no dead destination's cool-down, rt17c F3: retry and flush are
// the operator's ask for an attempt now) (QueueBatch: the suspension goes in the commit that makes the first
// of them due). It returns how many waiting (Ready) messages of the
// queue are due now: those the suspension held (already due, never
// attempted meanwhile) and those whose retry it brought forward, so the
// operator learns what the resume released. Copies taken over from a
// failed primary and deferred on this route wait listed in the
// primary's shadow queue: the resume makes them due as well
// (takenOverOn).
func (q *Manager) ResumeQueue(ctx context.Context, name string) (n int, err error) {
	return q.queueActionAll(ctx, "resume", name, "")
}

// releaseShadowHolds makes due now, in tx, every Ready message parked on
// a hold while a recipient of it waits in a shadow queue: a taken-over
// copy an earlier release held there (it now goes to the queue that
// holds it, where that queue's resume finds it). Only the Ready entries
// of the shadow queues' index are read: copies still shadowed are not.
func releaseShadowHolds(tx *Tx, now time.Time) (int, error) {
	prefix := []byte("shadow:")
	var ready []ID
	walkQueueIndex(tx.qidx, prefix, prefix, func(_ string, id ID, st State, known bool) bool {
		if known && st == Ready {
			ready = append(ready, id)
		}
		return true
	})
	n := 0
	for _, id := range ready { // not while the cursor walks the index Put rewrites
		m, err := tx.Get(id)
		if err != nil {
			continue // an undecodable record is the damaged-record check's
		}
		if m.State != Ready || !m.NextAttempt.After(now) {
			continue
		}
		parked := false
		for _, i := range m.Pending() {
			r := &m.Rcpts[i]
			parked = parked || strings.HasPrefix(r.Queue, "shadow:") && heldBy(r.LastReply) != ""
		}
		if !parked {
			continue
		}
		m.NextAttempt = now
		if err := tx.Put(m); err != nil {
			return 0, err
		}
		n++
	}
	return n, nil
}

// takenOverOn finds the copies taken over from a failed primary, in one
// of states, whose route now takes queue name, with the recipients it
// takes. Such a copy stays listed in the primary's shadow queue after a
// deferral — the primary stays watched while its shadow queue holds
// anything (SR-16), and its answer makes the copy due (retakeDue) — so
// the route's queue does not list it; an operator's retry, resume or
// redirect of the route must still reach it, as every other message
// waiting for that route. The route is not stored with the copy: it is
// asked of the deliverer (RouteNamer) now, so it is the route the
// copy's next attempt takes, after a reload too, and the record keeps
// the layout an older release reads. Only the shadow queues' index
// entries in those states are read (copies still shadowed are not), and
// the routes are named outside any transaction.
func (q *Manager) takenOverOn(name string, states ...State) (map[ID][]int, error) {
	rn, ok := q.del.(RouteNamer)
	if !ok || strings.HasPrefix(name, "shadow:") {
		return nil, nil
	}
	var found []*Message
	err := q.store.View(func(tx *Tx) error {
		prefix := []byte("shadow:")
		seen := map[ID]bool{}
		var ids []ID
		walkQueueIndex(tx.qidx, prefix, prefix, func(_ string, id ID, st State, known bool) bool {
			if known && slices.Contains(states, st) && !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
			return true
		})
		for _, id := range ids {
			if m, err := tx.Get(id); err == nil { // an undecodable record is the damaged-record check's
				found = append(found, m)
			}
		}
		return nil
	})
	if err != nil || len(found) == 0 {
		return nil, err
	}
	return takenRoutes(rn, name, found), nil
}

// takenOverAmong is takenOverOn for the messages ids only (a redirect's
// chunk): their records are read, not the shadow queues' whole index.
func (q *Manager) takenOverAmong(name string, ids []ID, states ...State) (map[ID][]int, error) {
	rn, ok := q.del.(RouteNamer)
	if !ok || strings.HasPrefix(name, "shadow:") {
		return nil, nil
	}
	var found []*Message
	err := q.store.View(func(tx *Tx) error {
		for _, id := range ids {
			// An undecodable record is the damaged-record check's.
			if m, err := tx.Get(id); err == nil && slices.Contains(states, m.State) {
				found = append(found, m)
			}
		}
		return nil
	})
	if err != nil || len(found) == 0 {
		return nil, err
	}
	return takenRoutes(rn, name, found), nil
}

// takenRoutes is, of each message of found, its pending recipients taken
// over (a shadow queue's) whose route rn names is queue name.
func takenRoutes(rn RouteNamer, name string, found []*Message) map[ID][]int {
	out := map[ID][]int{}
	for _, m := range found {
		var taken []int
		for _, i := range m.Pending() {
			if strings.HasPrefix(m.Rcpts[i].Queue, "shadow:") {
				taken = append(taken, i)
			}
		}
		if len(taken) == 0 {
			continue
		}
		for j, route := range rn.RouteQueues(m, taken) {
			if route == name {
				out[m.ID] = append(out[m.ID], taken[j])
			}
		}
	}
	return out
}

// ErrQueueSuspended: a retry of a suspended queue, or of a message that
// waits only in suspended queues, would attempt nothing — the
// suspension holds the mail until its resume, which makes it due now.
var ErrQueueSuspended = errors.New("the queue is suspended")

// RetryQueue makes every waiting (Ready) message of a queue due now —
// copies taken over from a failed primary whose route is this queue
// too (takenOverOn). It returns how many it rescheduled. A suspended
// queue is refused (ErrQueueSuspended): its messages are not attempted
// until its resume.
func (q *Manager) RetryQueue(ctx context.Context, name string) (n int, err error) {
	return q.queueActionAll(ctx, "retry", name, "")
}

// RedirectQueue sends every recipient waiting in a queue to target
// (host or host:port) instead of its normal route: they move, in their
// message's commit (QueueBatch), to the queue "redirect:TARGET" their
// delivery takes, so every
// listing shows where they go and a second redirect of the old queue
// finds nothing left to move. Their messages are due now — also when
// the old queue is suspended (hold the mail, then send it to a standby):
// only a suspension of the redirect's own queue, or of the message,
// holds them. Mail that reaches the queue later is not redirected. A
// REQUIRETLS message stays (rt17d F6): the target is verified by no
// DANE or MTA-STS policy of its recipients' domains, where the message
// would fail at once with 550 5.7.10. It returns how many messages it
// changed.
func (q *Manager) RedirectQueue(ctx context.Context, name, target string) (n int, err error) {
	return q.queueActionAll(ctx, "redirect", name, target)
}

// MessageFilter selects messages; empty fields match everything. From and
// To match substrings, case-insensitively.
type MessageFilter struct {
	Queue string
	From  string
	To    string
	State string // one of MessageStates
	// Domain: a recipient's domain is this one (case-insensitive, with or
	// without a leading "@" or a final dot, either form of an
	// internationalised name: domainKey); CheckDomain refuses text that
	// is no domain.
	Domain string
	// OlderThan: the message arrived at least this long ago.
	OlderThan time.Duration
	Limit     int

	view *StateView // for State and OlderThan (a pointer: filters stay comparable)
	// The forms the fields are compared in, made once per listing
	// (prepared), not per message or recipient.
	domain, from, to string
}

// prepared is f ready to match messages with the state view sv: its
// domain's key and its From and To in lower case made once.
func (f MessageFilter) prepared(sv *StateView) MessageFilter {
	f.view = sv
	f.from, f.to = strings.ToLower(f.From), strings.ToLower(f.To)
	if f.Domain != "" {
		f.domain = domainKey(f.Domain)
	}
	return f
}

// match: m is one f selects; f is prepared.
func (f MessageFilter) match(m *Message) bool {
	if f.State != "" && f.view.State(m) != f.State {
		return false
	}
	if f.OlderThan > 0 && f.view.Now.Sub(m.ArrivedHere()) < f.OlderThan {
		return false
	}
	if f.Domain != "" {
		ok := false
		for _, r := range m.Rcpts {
			ok = ok || domainKey(r.Addr[strings.LastIndexByte(r.Addr, '@')+1:]) == f.domain
		}
		if !ok {
			return false
		}
	}
	if f.From != "" && !strings.Contains(strings.ToLower(m.From), f.from) {
		return false
	}
	if f.To != "" {
		ok := false
		for _, r := range m.Rcpts {
			ok = ok || strings.Contains(strings.ToLower(r.Addr), f.to)
		}
		if !ok {
			return false
		}
	}
	return true
}

// Messages lists messages matching f, oldest first.
func (q *Manager) Messages(f MessageFilter) ([]*Message, error) {
	var out []*Message
	err := q.eachMatching(f, func(m *Message) { out = append(out, m) })
	return out, err
}

// MessageIDs is the ids of the messages Messages selects, in its order:
// a bulk action's selection keeps these, 8 bytes a message, not the
// records (ops22 2: the records of every message selected, 100,000 and
// more, were held at once).
func (q *Manager) MessageIDs(f MessageFilter) ([]ID, error) {
	var out []ID
	err := q.eachMatching(f, func(m *Message) { out = append(out, m.ID) })
	return out, err
}

// eachMatching gives keep each message f selects (at most f.Limit; no
// limit given: 1,000), oldest first, a damaged record as its listing
// (damagedListed), one at a time: a caller that keeps less than the
// record holds less.
func (q *Manager) eachMatching(f MessageFilter, keep func(m *Message)) error {
	if f.Limit <= 0 {
		f.Limit = 1000
	}
	sv := q.StateView()
	f = f.prepared(&sv)
	// The messages attempted through the queue now: a first attempt's
	// recipients name it only once its results do (attemptsOn).
	var attempted []ID
	if f.Queue != "" {
		attempted = q.attemptsOn(f.Queue)
	}
	return q.store.View(func(tx *Tx) error {
		n := 0
		// The damaged records listed (damagedListed), merged by id.
		damaged := damagedListed(tx, f, nil)
		give := func(m *Message) bool {
			for len(damaged) > 0 && damaged[0].ID < m.ID && n < f.Limit {
				keep(damaged[0])
				damaged, n = damaged[1:], n+1
			}
			if n >= f.Limit {
				return false
			}
			keep(m)
			n++
			return n < f.Limit
		}
		defer func() {
			for ; len(damaged) > 0 && n < f.Limit; n++ {
				keep(damaged[0])
				damaged = damaged[1:]
			}
		}()
		if f.Queue != "" {
			damaged = nil // the queue's own listing names its damaged records
			ids := tx.InQueue(f.Queue, 1<<31-1)
			if len(attempted) > 0 {
				listed := make(map[ID]bool, len(ids))
				for _, id := range ids {
					listed[id] = true
				}
				for _, id := range attempted {
					if !listed[id] {
						ids = append(ids, id)
					}
				}
				slices.Sort(ids) // oldest first, as the queue lists them
			}
			for _, id := range ids {
				m, err := tx.Get(id)
				if d, ok := tx.Damaged(id); err != nil && ok {
					m, err = d.asMessage(), nil // the queue damaged (damaged.go)
				}
				if err == nil && f.match(m) && !give(m) {
					break
				}
			}
			return nil
		}
		tx.ForEach(func(m *Message, err error) bool {
			if err == nil && f.match(m) {
				return give(m)
			}
			return true
		})
		return nil
	})
}

// Message returns one message record.
func (q *Manager) Message(id ID) (*Message, error) {
	var m *Message
	err := q.store.View(func(tx *Tx) error {
		var err error
		m, err = tx.Get(id)
		if d, ok := tx.Damaged(id); errors.Is(err, ErrNotFound) && ok {
			m, err = d.asMessage(), nil // state damaged, its size and why (damaged.go)
		}
		return err
	})
	return m, err
}

// Body returns a message's stored bytes (trace header first), for export.
func (q *Manager) Body(id ID) ([]byte, error) {
	var b []byte
	err := q.store.View(func(tx *Tx) error {
		var err error
		b, err = tx.Body(id)
		return err
	})
	return b, err
}

// changeOnce applies fn to a message that is not in delivery. A message
// claimed whose every job still waits for a slot of its destination's
// window is not in delivery: it is taken out of the scheduler's queues
// first (withdraw.go) and fn sees it Ready, as it was before its claim.
func (q *Manager) changeOnce(ctx context.Context, id ID, fn func(tx *Tx, m *Message) error) error {
	return q.changeOnceFreeing(ctx, id, "", fn)
}

// changeOnceFreeing is changeOnce for a change that frees room (an
// operator's removal), named by freeing: on a full disk its commit may
// give up the space reserve (UpdateFreeing) — removing mail is how an
// operator frees room, and a file with no free page (after db compact
// or db restore) has none for even a removal's commit (rt45 F1's
// sibling). freeing "": a plain commit.
func (q *Manager) changeOnceFreeing(ctx context.Context, id ID, freeing string, fn func(tx *Tx, m *Message) error) error {
	update := q.store.Update
	if freeing != "" {
		update = func(ctx context.Context, fn func(*Tx) error) error { return q.store.UpdateFreeing(ctx, freeing, fn) }
	}
	w := q.withdraw(id)
	changed := false
	err := update(ctx, func(tx *Tx) error {
		changed = false
		m, err := tx.Get(id)
		if _, ok := tx.Damaged(id); errors.Is(err, ErrNotFound) && ok {
			return damagedRefusal(id, "this action") // damaged.go: only remove and export
		}
		if err != nil {
			return err
		}
		if err := asReady(m, w != nil); err != nil {
			return err
		}
		if err := fn(tx, m); err != nil {
			return err
		}
		after, err := tx.Get(id)
		changed = errors.Is(err, ErrNotFound) || err == nil && after.State != Active
		return tx.addTally(ctx, 1, 0) // a bulk command's message done alone (bulktally.go)
	})
	w.settle(q, err, changed)
	return err
}

// SuspendMessage holds a message until it is resumed. A hold is a hold
// on every server: the commit that suspends the message also writes the
// discard notification for its shadow copy (hold.go), so no other server
// takes the held message over and delivers it.
func (q *Manager) SuspendMessage(ctx context.Context, id ID) error {
	return q.changeBy(ctx, id, q.suspendAction(q.StateView(), q.clk.Now()))
}

// suspendAction is SuspendMessage's change of one message, for the
// message alone (changeBy) or with others in one commit (MessageBatch).
func (q *Manager) suspendAction(sv StateView, now time.Time) msgAction {
	return msgAction{
		check: func(_ *Tx, m *Message) error { return sv.Refusal("suspend", m) },
		apply: func(tx *Tx, m *Message) (func(Events), error) {
			settled := false
			if m.State != Suspended {
				ok, err := settleHeldCopy(tx, m, now)
				if err != nil {
					return nil, err
				}
				settled = ok
				// Marked held by this server only, it is not copied while
				// held, and the next listing of the marks drops a mark it
				// needs no more (SingleCopies): its release marks it again
				// (markReleasedSingle), whatever its record names.
				m.CopyOnRelease = m.CopyOnRelease || tx.markedSingle(m.ID)
			}
			m.State = Suspended
			if err := tx.Put(m); err != nil || !settled {
				return nil, err
			}
			return func(ev Events) { q.heldCopySettled(ev, m) }, nil
		},
	}
}

// ResumeMessage makes a suspended or poison message due now. A poison
// message starts again with no crashes counted; a suspended one keeps
// its count. Any other message is
// refused (StateView.Refusal): answering "resumed" for a message that
// waits for a retry or for its queue's resume would tell the operator
// it was released when nothing changed.
func (q *Manager) ResumeMessage(ctx context.Context, id ID) (err error) {
	// No dead destination is revived (rt17c F3): see ResumeQueue.
	err = q.changeBy(ctx, id, q.resumeAction(q.StateView()))
	q.Kick()
	return err
}

// resumeAction is ResumeMessage's change of one message (suspendAction).
func (q *Manager) resumeAction(sv StateView) msgAction {
	return msgAction{
		check: func(tx *Tx, m *Message) error {
			if err := sv.Refusal("resume", m); err != nil {
				return err
			}
			return tx.refuseGiven(m) // handback.go
		},
		apply: func(tx *Tx, m *Message) (func(Events), error) {
			single, settled, release := false, false, m.State == Suspended
			// Read before the hold is settled or released: a copy its
			// holder keeps for another record here too keeps its age
			// (sharedCopyKept, heldage.go).
			shared := tx.sharedCopyKept(m)
			if poisonCopySettled(m) {
				// The commit that moved it to the poison queue settled
				// its copy (Recover): the release below marks it for a
				// new copy; nothing is discarded twice.
				release = true
			} else if m.State == Poison && tx.bodySoundHere(m) {
				// The poison queue kept the message's shadow copy
				// (hold.go), and its holder takes it over by the copy's
				// own receipt time; the resume does not count the time
				// held in the message's age (resumedFromHold below). So
				// the resume settles the copy as a suspend does, in its
				// commit, and the release below marks the message for a
				// new copy, which carries the age the resume left it
				// (Carried: OrgArrived): no holder keeps a copy whose
				// expiry disagrees with the message's.
				// Not when the body here is unreadable: the copy is the
				// sound one, and the resume's attempt gives the message
				// to its holder (handback.go).
				ok, err := settleHeldCopy(tx, m, q.clk.Now())
				if err != nil {
					return nil, err
				}
				settled, release = ok, true
				m.CopyOnRelease = m.CopyOnRelease || tx.markedSingle(m.ID)
			}
			if release {
				marked, err := tx.markReleasedSingle(m, HowHeld, q.clk.Now())
				if err != nil {
					return nil, err
				}
				single = marked
			}
			if m.State == Poison {
				// The operator's verdict on the crashes that held it. A
				// suspended message's crashes stay counted: a suspend
				// and a resume of a suspect (one taken out of its
				// destination's queue, withdraw.go, too) is no way round
				// the poison heuristic.
				m.CrashCount = 0
			}
			now := q.clk.Now()
			if m.State == Suspended {
				q.keepRetryNext(m, now) // the step it waited for when suspended
			}
			heldAt, known := tx.heldSince(m.ID) // read before the Put below forgets it
			m.State, m.NextAttempt = Ready, now
			// The hold does not age it, the time before the hold does:
			// expiry and delay notice count on from the hold's start
			// (a loop of suspends and resumes made it immortal), and a
			// notice that went stays gone. Not a part whose shadow copy
			// its holder keeps for another part still (shared): the
			// holder takes that copy over by the copy's own receipt
			// time, so the part keeps its age, the hold counted, and
			// expires with the copy (split47).
			if !shared {
				m.resumedFromHold(heldAt, known, now, q.policy().MessageExpiration)
			}
			m.LastError = ""     // it described the hold or the crashes, which end here
			m.ManualRetry = true // the operator's attempt uses no step of the retry schedule
			if err := tx.Put(m); err != nil || !single && !settled {
				return nil, err
			}
			return func(ev Events) {
				if settled {
					q.resumedCopySettled(ev, m)
				}
				if single {
					q.releasedSingle(m, "resume")
				}
			}, nil
		},
	}
}

// RemoveMessage deletes a message. With ndr, the sender gets a failure DSN
// for every recipient not yet delivered (unless NOTIFY=NEVER or the null
// sender), in the same transaction.
//
// A message holding a shadow copy of another server's message (a
// recipient Shadowed) is refused (ErrShadowCopy): its primary would be
// left with the only copy without knowing (rt36 F1). RemoveMessageForce
// removes it anyway.
func (q *Manager) RemoveMessage(ctx context.Context, id ID, ndr bool) error {
	return q.remove(ctx, id, ndr, false)
}

// RemoveMessageForce is RemoveMessage that removes a shadow copy too
// (umbra message remove --force): its primary's message is then held by
// the primary alone until the primary learns of it — the commit notes
// the copy for it (droppedcopy.go), which it asks for at its next holder
// probe (version 12) and then makes the copy again; a primary below 12
// never learns of it. Logged at WARN with the primary.
func (q *Manager) RemoveMessageForce(ctx context.Context, id ID, ndr bool) error {
	return q.remove(ctx, id, ndr, true)
}

func (q *Manager) remove(ctx context.Context, id ID, ndr, force bool) error {
	// A damaged record goes whole, with its body: it has no envelope
	// to send a DSN to, nor a shadow copy known (damaged.go).
	if ok, err := q.removeDamagedMessage(ctx, id, force); ok || err != nil {
		return err
	}
	// A quarantined message removed is the quarantine's delete: tracked
	// as such, and its DSN says nothing of checks (quarantine.go).
	if err := q.DeleteQuarantined(ctx, id, ndr); !errors.Is(err, ErrNotQuarantined) {
		return err
	}
	return q.changeByFreeing(ctx, id, "the operator's removal of message "+id.String(), q.operatorRemoval(ndr, force))
}

// operatorRemoval is the operator's removal of one message (remove),
// for the message alone (changeBy) or with others in one commit
// (MessageBatch); a damaged record and a quarantined message are
// removed by their own code, one at a time.
func (q *Manager) operatorRemoval(ndr, force bool) msgAction {
	var how removal
	copyOf := ""
	var told []string
	if force {
		how.dropped = &told // the primary is told (droppedcopy.go)
	}
	how.check = func(tx *Tx, m *Message) (err error) {
		copyOf, err = removeCheck(tx, m, force)
		return err
	}
	a := q.removeAction(ndr, how)
	apply := a.apply
	a.apply = func(tx *Tx, m *Message) (func(Events), error) {
		after, err := apply(tx, m)
		if err != nil {
			return nil, err
		}
		of, n := copyOf, len(told)
		return func(ev Events) {
			after(ev)
			if of != "" {
				q.log.Warn("shadow copy removed by the administrator: the primary's message is held by the primary alone until it asks this server (its next holder probe, shadow verbs 12) and makes the copy again",
					"msg_id", m.ID.String(), "primary", of, "primaries_told", n)
			}
		}, nil
	}
	return a
}

// removeCheck is the operator's removal's decision on m (force: message
// remove --force), in tx: nil, or the refusal the removal answers.
// copyOf is the primary whose shadow copy m holds, when force removes
// one. CheckRemove (the dry run) and remove run this same code.
func removeCheck(tx *Tx, m *Message, force bool) (copyOf string, err error) {
	if !force {
		// A body unreadable here whose shadow copy is elsewhere: the
		// removal would discard the sound copy with it (rt43 F4).
		if holder := tx.CopyHolder(m); holder != "" {
			if b, err := tx.BodyOf(m.ID); err == nil {
				if berr := b.Check(); berr != nil {
					return "", RefuseRemoveDamaged(m, holder, berr)
				}
			}
		}
	}
	if !hasShadowed(m) {
		return "", nil
	}
	if !force {
		return "", shadowCopyRemoveErr(m)
	}
	for _, r := range m.Rcpts {
		if r.Status == Shadowed {
			return r.Primary, nil
		}
	}
	return "", nil
}

// CheckRemove is the dry run of RemoveMessage (force: of
// RemoveMessageForce): the refusal the removal of id would answer now,
// from the same decision (removeCheck), nothing written; nil when it
// would remove the message.
func (q *Manager) CheckRemove(id ID, force bool) error {
	return q.store.View(func(tx *Tx) error {
		if d, ok := tx.Damaged(id); ok {
			return tx.damagedRemoveCheck(d, force) // removeDamagedMessage
		}
		m, err := tx.Get(id)
		if err != nil {
			return err
		}
		// As change answers: a message change would withdraw is Ready.
		if err := asReady(m, m.State == Active && q.WaitingForWindow(id)); err != nil {
			return err
		}
		if m.State == Quarantined {
			return nil // the quarantine's delete (DeleteQuarantined)
		}
		_, err = removeCheck(tx, m, force)
		return err
	})
}

// removal says how removeMessage ends a message: check refuses a
// message (nil: any), reply is the recipients' diagnostic, event and
// note what tracking says ("": the administrator's removal).
type removal struct {
	check       func(tx *Tx, m *Message) error
	reply       string
	event, note string
	// dropped: the removal's commit notes the shadow copies m kept for
	// their primaries (droppedcopy.go); set to the primaries noted.
	dropped *[]string
}

func (q *Manager) removeMessage(ctx context.Context, id ID, ndr bool, how removal) error {
	return q.changeBy(ctx, id, q.removeAction(ndr, how))
}

// removeAction is removeMessage's change of one message (suspendAction):
// how.check is its check, the rest its write; what follows the commit
// (the log line, the tracking event, the discard signal, the DSN's
// event) runs once the commit went through.
func (q *Manager) removeAction(ndr bool, how removal) msgAction {
	if how.reply == "" {
		how.reply = "550 5.3.0 message removed by the administrator of " + q.cfg.Hostname
	}
	if how.event == "" {
		how.event, how.note = "remove", "removed by the administrator"
	}
	now := q.clk.Now()
	check := how.check
	if check == nil {
		check = func(*Tx, *Message) error { return nil }
	}
	return msgAction{check: check, apply: func(tx *Tx, m *Message) (func(Events), error) {
		id := m.ID
		var dsn *Message
		var failed []int
		before := make([]RcptStatus, len(m.Rcpts)) // for noteTakenDone
		for i := range m.Rcpts {
			before[i] = m.Rcpts[i].Status
		}
		took := m.Pending()
		for _, i := range took {
			m.Rcpts[i].Status = Failed
			// This server ends the recipient: no remote server answered
			// this, so the DSN names no Remote-MTA (RFC 3464 §2.3.5) and
			// the diagnostic is this server's own.
			m.Rcpts[i].NextHop = ""
			m.Rcpts[i].LastReply = how.reply
			if m.Rcpts[i].Notify.Wants(NotifyFailure) {
				failed = append(failed, i)
			}
		}
		body, err := tx.BodyOf(id) // a spooled file is not read (BuildDSNBody)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		// Its DSN is on this disk alone (the discard goes now): marked held
		// by this server only when the message had a copy or was marked.
		singleDSN := m.ShadowServer != "" && m.ShadowID != "" || tx.markedSingle(id)
		if how.dropped != nil {
			if *how.dropped, err = tx.noteDroppedTx(m, now, q.policy().MessageExpiration); err != nil {
				return nil, err
			}
		}
		if ndr {
			// A copy taken over for failed heartbeats failed here with
			// its DSN: its primary, back with its database, fails its
			// original without a second one (takendone.go; shadow28
			// item 4: the removal noted nothing). Before the Delete: it
			// reads the index entries. Removed without a DSN, nothing is
			// noted: the primary delivers its original.
			if err := tx.noteTakenDone(m, before, nil, nil, now); err != nil {
				return nil, err
			}
		}
		if err := tx.forgetHanded(m); err != nil { // takenhanded.go
			return nil, err
		}
		if err := tx.Delete(id); err != nil {
			return nil, err
		}
		// The operator ended the message: its shadow must not resurrect it.
		// Unless another record here still needs the copy (siblingcopy.go).
		// Its commit wakes the shadow server's long poll (owedsignal.go).
		wrote, err := tx.addCopyDiscard(m, now)
		if err != nil {
			return nil, err
		}
		withDSN := ndr && len(failed) > 0 && m.From != ""
		var reported []string // recipients of the shared copy its DSN reports
		if !wrote {
			if reported, err = tx.settleRemovedPart(m, took, failed, withDSN, now); err != nil {
				return nil, err
			}
		}
		if withDSN {
			dsn = &Message{ID: tx.NewID(now), State: Ready, Arrived: now, NextAttempt: now, Connector: "dsn", Internal: true,
				UTF8: DSNNeedsSMTPUTF8(m), RequireTLS: m.RequireTLS, Rcpts: []Recipient{{Addr: m.From, Notify: NotifyNever}}}
			dsn.MessageID, dsn.ReportOn, dsn.ReportOnMessageID = dsnMessageID(dsn.ID, q.cfg.Hostname), m.ID, m.MessageID
			db := BuildDSNBody(q.cfg.Hostname, m, body, NotifyFailure, failed, now, now, dsn.ID, q.cfg.BounceSizeLimit, q.policy().Inside)
			dsn.Size = int64(len(db))
			if err := tx.PutNew(dsn, db); err != nil {
				return nil, err
			}
			// Until it leaves, the copy covers what the DSN reports
			// (reportedcopy.go); its departure settles them.
			if err := tx.noteReported(dsn.ID, m.ID, m.OrgID, m.ShadowServer, m.ShadowID, reported); err != nil {
				return nil, err
			}
			if _, err := tx.markEnteredSingle(dsn, now, singleDSN || tx.makesCopies()); err != nil { // enteredsingle.go
				return nil, err
			}
		}
		return func(ev Events) {
			q.log.Info("message "+how.note, "msg_id", id.String(), "ndr", dsn != nil)
			// The event lists the recipients the removal took, not one
			// delivered (or failed) before it: track --recipient for that
			// one must not show its copy removed (opsrt40 F8).
			shown := *m
			shown.Rcpts = make([]Recipient, 0, len(took))
			for _, i := range took {
				shown.Rcpts = append(shown.Rcpts, m.Rcpts[i])
			}
			ev.Event(how.event, &shown, nil, how.note)
			q.notifyGone(id)
			if dsn != nil {
				dsnEventTo(ev, dsn, NotifyFailure)
				q.Kick()
			}
		}, nil
	}}
}
