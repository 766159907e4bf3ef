package queue

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"umbra/internal/jsonsafe"
	"umbra/internal/mailaddr"
)

// Operator actions on many messages, and the names the operator may use.

// UnknownNameError is an operator's name (a queue, a state) that does not
// exist; Valid lists those that do, for the error message.
type UnknownNameError struct {
	Kind  string // "queue", "state"
	Name  string
	Valid []string
}

// Error names the name asked for as QuoteShown writes it: the admin API
// passes the text on as it is (not escaped again), the CLI and the web
// console escape its control characters where they show it.
func (e *UnknownNameError) Error() string { return e.text(shownName) }

// Text is Error with the names as given, for a writer that applies the
// rule itself (the daemon's log, the tracking log's audit line): so the
// rule is applied there once, not a second time over Error's text.
func (e *UnknownNameError) Text() string { return e.text(func(s string) string { return s }) }

func (e *UnknownNameError) text(show func(string) string) string {
	quoted := `"` + show(e.Name) + `"`
	if len(e.Valid) == 0 {
		return fmt.Sprintf("no %s %s; valid: none now", e.Kind, quoted)
	}
	valid := uniqueNames(e.Valid)
	for i, v := range valid {
		valid[i] = show(v)
	}
	return fmt.Sprintf("no %s %s; valid: %s", e.Kind, quoted, strings.Join(valid, ", "))
}

// QuoteShown is s in double quotes by the one rule for bytes from
// outside (jsonsafe.TextBytes): a byte that is not UTF-8 as \xNN, a
// backslash run before what reads as such an escape doubled, anything
// else as it is. Unlike %q it is not escaped a second time by that rule
// where the text is shown, so a refusal names the name given: the byte
// 0xe9 reads \xe9, the text \xe9 reads \\xe9.
//
// A control character (tab, newline, CR, ESC …) is written as \xNN too,
// the byte it is (rt47 F3): the CLI writes an error's text with tab and
// newline kept (an error may have several lines), so a name's tab would
// reach the terminal raw. jsonsafe.FromTextBytes reads \x09 back as the
// tab, so a name copied from a refusal is the name given.
func QuoteShown(s string) string { return `"` + shownName(s) + `"` }

// shownName is s by the one rule (jsonsafe.TextBytes) with every control
// character written \xNN as well, and a backslash run before one
// doubled (QuoteShown).
func shownName(s string) string {
	if !strings.ContainsFunc(s, isControl) {
		return jsonsafe.TextBytes(s)
	}
	b := make([]byte, 0, len(s)+16)
	for i := 0; i < len(s); {
		if s[i] == '\\' {
			end, double := jsonsafe.BackslashRunBeforeEscape(s, i)
			double = double || end < len(s) && isControl(rune(s[end]))
			b = append(b, s[i:end]...)
			if double {
				b = append(b, s[i:end]...)
			}
			i = end
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 || isControl(r) {
			b = fmt.Appendf(b, `\x%02x`, s[i])
		} else {
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return string(b)
}

// isControl reports whether r is a C0 control character or DEL.
func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// uniqueNames is names without repeats, in their order: a valid list is
// often put together from two sources (the queues that exist and those
// the configuration can produce) that name the same queue.
func uniqueNames(names []string) []string {
	seen := make(map[string]bool, len(names))
	out := make([]string, 0, len(names))
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// MessageStates are the states a message is shown in and can be selected
// by: the stored states, with "retry" for a ready message that waits for
// its next attempt after a deferral (what its queue shows as "retry"),
// and "held" for a ready message whose every pending recipient waits in
// a queue the operator suspended (what its queue shows as "suspended").
// "damaged": a record that does not decode, set aside (damaged.go).
// "waiting": a message in its attempt none of whose jobs runs, each
// waiting for a slot of its destination's window (StateView; stored as
// active, which one job running makes it).
var MessageStates = []string{"ready", "retry", "held", "active", "waiting", "suspended", "poison", "shadow", "quarantined", "damaged"}

// QueueStatuses are the statuses a queue is shown in (QueueInfo.Status).
// "shadow": a shadow:PRIMARY queue whose copies are all held for their
// primary (none taken over), as its messages show.
// "damaged": the queue of damaged records (damaged.go).
// "waiting": messages in their attempt wait there for a slot of the
// destination's window, and none runs there.
var QueueStatuses = []string{"ready", "retry", "active", "waiting", "suspended", "kept", "held", "shadow", "poison", "damaged"}

// DeliveryTypes are the delivery types of queues (DeliveryType).
var DeliveryTypes = []string{"smtp-mx", "smtp-smart-host", "mailbox", "smtp-redirect", "site", "shadow", "legacy",
	"dumpster", QueueSubmission, QueuePoison, "unreachable", QueueQuarantine, QueueDamaged, "other"}

// DisplayState is the state the operator sees for a message at now,
// leaving aside suspended queues (StateView adds them).
func DisplayState(m *Message, now time.Time) string {
	// Waiting after a deferral: an attempt, or a dead destination's
	// answer without a connection (no attempt; its reply is the last
	// error).
	if (retryFields{m.State, m.Attempts > 0 || m.LastError != "", m.NextAttempt}).waitsForRetry(now) {
		return "retry"
	}
	return m.State.String()
}

// StateView shows messages in the states the operator sees them in at
// one moment: DisplayState, and "held" for a ready message none of whose
// pending recipients can be attempted because each waits in a suspended
// queue. Every view of a message — message list and show, their JSON,
// the admin API, the console, the --state filter — and the counts of
// queue list use it, so that a message and its queue never disagree
// (a queue shown "suspended" whose messages show "ready").
type StateView struct {
	Now       time.Time
	Suspended map[string]bool
	// jobs: the scheduler's jobs of the messages in their attempt
	// (WithJobs): a recipient whose job waits for a slot of its
	// destination is "waiting", one whose job runs "active", and a
	// message none of whose jobs runs "waiting". nil: every recipient
	// of such a message shows its stored status, the message "active".
	jobs map[ID]*jobView
	// coolUntil: of each queue every destination of which is dead
	// now, when the first of their cool-downs ends (WithJobs): its mail
	// is not attempted before (Due).
	coolUntil map[string]time.Time
}

// NewStateView is the view at now with the suspended queues given.
func NewStateView(now time.Time, suspended []string) StateView {
	v := StateView{Now: now, Suspended: make(map[string]bool, len(suspended))}
	for _, name := range suspended {
		v.Suspended[name] = true
	}
	return v
}

// StateView is the view of the manager's clock, suspended queues and
// scheduler's jobs now.
func (q *Manager) StateView() StateView {
	return q.WithJobs(NewStateView(q.clk.Now(), q.SuspendedQueues()))
}

// WithJobs is v with the scheduler's jobs now (the admin API's view).
func (q *Manager) WithJobs(v StateView) StateView {
	v.jobs = q.jobViews()
	v.coolUntil = q.coolingDown(v.Now)
	return v
}

// Due is when m is attempted next as the scheduler will do it: its next
// attempt, or, for a recipient whose queue's every destination is dead
// (WithJobs), the end of that cool-down if later — a dead destination's
// jobs are answered without a connection until then (rt21c L6: message
// show gave `next:` 20 s before it). The earliest of its pending
// recipients'; the zero time for a message not waiting (Ready).
func (v StateView) Due(m *Message) time.Time {
	if m.State != Ready {
		return time.Time{}
	}
	var due time.Time
	for _, i := range m.Pending() {
		at := m.NextAttempt
		if end := v.coolUntil[queueOf(&m.Rcpts[i])]; end.After(at) {
			at = end
		}
		if due.IsZero() || at.Before(due) {
			due = at
		}
	}
	if due.IsZero() {
		return m.NextAttempt
	}
	return due
}

// Queues is the queues m is in as the operator sees it (QueuesOf): a
// message in its first attempt — Active, every pending recipient still
// in submission, none named a queue before its results do — is in the
// queues of the destinations its jobs wait for or run on (the view's
// jobs: WithJobs), not in submission, as queue list counts it
// (firstAttemptsIn) and message list --queue finds it (rt18c-F7).
func (v StateView) Queues(m *Message) []string {
	if j := v.jobs[m.ID]; j != nil && firstAttempt(m) {
		if names := j.queues(); len(names) > 0 {
			return names
		}
	}
	return QueuesOf(m)
}

// firstAttempt says whether m is in its first attempt: Active, with
// pending recipients, none of which a result has named a queue yet.
func firstAttempt(m *Message) bool {
	if m.State != Active || len(m.Pending()) == 0 {
		return false
	}
	for _, i := range m.Pending() {
		if m.Rcpts[i].Queue != "" {
			return false
		}
	}
	return true
}

// heldQueues lists, in order and once each, the suspended queues m's
// pending recipients wait in, and whether every pending recipient waits
// in one.
func (v StateView) heldQueues(m *Message) (queues []string, all bool) {
	if m.State != Ready || len(v.Suspended) == 0 {
		return nil, false
	}
	all = true
	pending := 0
	for i := range m.Rcpts {
		r := &m.Rcpts[i]
		if r.Status.Done() {
			continue
		}
		pending++
		name := queueOf(r)
		if !v.Suspended[name] {
			all = false
			continue
		}
		seen := false
		for _, q := range queues {
			seen = seen || q == name
		}
		if !seen {
			queues = append(queues, name)
		}
	}
	return queues, all && pending > 0
}

// State is the state the operator sees for m.
func (v StateView) State(m *Message) string {
	if _, all := v.heldQueues(m); all {
		return "held"
	}
	if j := v.jobs[m.ID]; m.State == Active && j != nil && !j.running && len(j.waitQueues) > 0 {
		return "waiting"
	}
	return DisplayState(m, v.Now)
}

// Held says why recipients of m wait without being attempted: the
// suspended queues they wait in and the command that releases them;
// "" when none does.
func (v StateView) Held(m *Message) string {
	qs, _ := v.heldQueues(m)
	switch len(qs) {
	case 0:
		return ""
	case 1:
		return "queue " + qs[0] + " is suspended (umbra queue resume " + qs[0] + ")"
	}
	return "queues " + strings.Join(qs, ", ") + " are suspended (umbra queue resume QUEUE)"
}

// RecipientStatus is the status the operator sees for recipient i of m:
// its stored status, "held" for a pending recipient of a ready message
// that waits in a suspended queue, and for a pending recipient of a
// message in its attempt "waiting" or "active", as its job does.
func (v StateView) RecipientStatus(m *Message, i int) string {
	r := &m.Rcpts[i]
	if m.State == Ready && !r.Status.Done() && v.Suspended[queueOf(r)] {
		return "held"
	}
	if j := v.jobs[m.ID]; m.State == Active && !r.Status.Done() && j != nil {
		if slices.Contains(j.waitRcpts, i) {
			return "waiting" // for a slot of its destination's window
		}
		return "active" // its job runs, or ran and its results wait for the others'
	}
	if r.Status == Relayed && partialDone(r.LastReply) {
		return "done by primary" // a copy's recipient its primary's partial discard settled
	}
	return r.Status.String()
}

// RecipientNextHop is the next hop the operator sees for recipient i of
// m: its stored one, the host its last attempt was at, except while a
// job of it runs or ran in the attempt in progress (RecipientStatus
// "active"): that attempt's host is known with its result only, so it is
// "" (not known yet) — never the last attempt's, which a queue redirect,
// a reload or a failover to another smart host has left behind (rt26c
// F3: "active redirect:HOST" beside the host that refused connections).
func (v StateView) RecipientNextHop(m *Message, i int) string {
	if v.RecipientStatus(m, i) == "active" {
		return ""
	}
	return m.Rcpts[i].NextHop
}

// WaitingOn is what recipient i of m, in its attempt now, waits on: a
// host in a step of its session (Stall; WithJobs); nil when it waits on
// none (not in a session's step, or m not in its attempt).
func (v StateView) WaitingOn(m *Message, i int) *Stall {
	j := v.jobs[m.ID]
	if m.State != Active || j == nil || m.Rcpts[i].Status.Done() {
		return nil
	}
	if s, ok := j.stalls[i]; ok {
		return &s.Stall
	}
	return nil
}

// OldestWait is the longest of m's recipients' waits (WaitingOn), nil
// when none waits on a host.
func (v StateView) OldestWait(m *Message) *Stall {
	var out *Stall
	for i := range m.Rcpts {
		if s := v.WaitingOn(m, i); s != nil && (out == nil || s.Since.Before(out.Since)) {
			out = s
		}
	}
	return out
}

// WaitingRetry counts the messages of queue name that wait for a retry
// after a deferral at now (DisplayState "retry"): the split of ready
// messages that the metrics, the CLI and the console all show as
// "retry". Every Ready message of the queue is counted, with no bound
// (a bounded count showed a dead destination's 12,000 as 10,000 retry
// and the rest ready): the index names them, and of each record only
// the fields before its recipients are decoded (peekRetryFields), after
// one checksum pass over the whole record, its recipients included: the
// cost is that pass over each ready record's bytes (never its body), with
// no decode of its recipients.
func (t *Tx) WaitingRetry(name string, now time.Time) int {
	n := 0
	t.readyRetryFields(name, func(_ ID, f retryFields) {
		if f.waitsForRetry(now) {
			n++
		}
	})
	return n
}

// CheckState returns an UnknownNameError for a state name that is none
// of MessageStates ("" selects every state).
func CheckState(s string) error {
	if s == "" {
		return nil
	}
	for _, v := range MessageStates {
		if v == s {
			return nil
		}
	}
	return &UnknownNameError{Kind: "state", Name: s, Valid: MessageStates}
}

// CheckDomain returns an error for a --domain filter (MessageFilter.Domain)
// that names no domain: a name of letters, digits, hyphens and
// underscores in labels of 1–63 characters (an internationalised name in
// either form: mailaddr.Domain), or an address literal
// (mailaddr.ParseLiteral); a leading "@" and a final dot are allowed.
// Text that is neither would select nothing and say nothing.
func CheckDomain(d string) error {
	if d == "" {
		return nil
	}
	s := strings.TrimSuffix(strings.TrimPrefix(d, "@"), ".")
	if strings.HasPrefix(s, "[") {
		if _, err := mailaddr.ParseLiteral(s); err != nil {
			return jsonsafe.Textf("domain %s: %s", QuoteShown(d), jsonsafe.TextBytes(err.Error())) // in the text form: escaped once
		}
		return nil
	}
	a, err := mailaddr.Domain(s)
	if err != nil {
		return jsonsafe.Textf("domain %s: %s", QuoteShown(d), jsonsafe.TextBytes(err.Error()))
	}
	if !mailaddr.IsDomain(a) {
		return jsonsafe.Textf("domain %s is no domain name or address literal", QuoteShown(d))
	}
	return nil
}

// domainKey is the key a --domain filter and a recipient's domain are
// compared by: the domain as the queue stores it (no "@", no final dot;
// mailaddr.CanonicalDomain), either form of an internationalised name
// (mailaddr.DomainKey).
func domainKey(d string) string {
	return mailaddr.DomainKey(mailaddr.CanonicalDomain(strings.TrimPrefix(d, "@")))
}

// CheckQueue returns an UnknownNameError for a queue the operator names
// that does not exist now (no message waits in it or is routed to it
// from a shadow queue after a takeover, none is attempted through it,
// and it is not suspended). With mayBeNew (a suspension ahead of maintenance), a
// well-formed name of a queue that can exist is accepted too:
// KIND:DESTINATION of a known kind (mx:, smarthost:, mailbox:, site:, …).
func (q *Manager) CheckQueue(name string, mayBeNew bool) error {
	qs, err := q.Queues()
	if err != nil {
		return err
	}
	var names []string
	for _, qi := range qs {
		if qi.Name == name {
			return nil
		}
		names = append(names, qi.Name)
	}
	// Copies taken over and deferred on this route wait listed in their
	// shadow queue: the route's queue exists for them (takenOverOn).
	if taken, err := q.takenOverOn(name, Ready, Suspended); err != nil {
		return err
	} else if len(taken) > 0 {
		return nil
	}
	// A first attempt runs (or waits for a slot) through it: its
	// recipients name the queue only once the attempt's results do.
	if len(q.attemptsOn(name)) > 0 {
		return nil
	}
	if mayBeNew {
		kind, dest, ok := strings.Cut(name, ":")
		if ok && dest != "" && !strings.ContainsAny(name, " \t\r\n") && DeliveryType(name) != "other" && kind != "dumpster" {
			return nil
		}
	}
	sort.Strings(names)
	if mayBeNew {
		names = append(names, "or a new KIND:NAME of kind mx, smarthost, mailbox, redirect, site, shadow, legacy")
	}
	return &UnknownNameError{Kind: "queue", Name: name, Valid: names}
}

// RetryMessage makes a waiting (ready) message due now. It does not count
// as an attempt. A message whose every pending recipient waits in a
// suspended queue is refused (ErrQueueSuspended): it would not be
// attempted.
//
// It decides before it revives (rt18e-F3): the message is looked at
// first, and a retry refused (suspended, held, a shadow copy, gone)
// returns with nothing changed, every dead destination's cool-down
// included; only a retry that goes ahead ends them, ahead of its commit.
func (q *Manager) RetryMessage(ctx context.Context, id ID) (err error) {
	now := q.clk.Now()
	sv := NewStateView(now, q.SuspendedQueues())
	if err := q.store.View(func(tx *Tx) error {
		m, err := tx.Get(id)
		if _, damaged := tx.Damaged(id); errors.Is(err, ErrNotFound) && damaged {
			// Set aside as damaged: refused as such, as suspend and
			// resume are (changeOnce), not "no such message" while
			// show and list show it (rt25c F4).
			return damagedRefusal(id, "message retry")
		}
		if err != nil {
			return err
		}
		return sv.Refusal("retry", m)
	}); err != nil && !errors.Is(err, ErrBusy) {
		return err // in delivery: the change below waits for its answer's commit (settling.go)
	}
	revived := q.reviveDead()
	defer func() { err = revivedBefore(err, revived) }() // scheduler.go: what was done before a failure
	err = q.changeBy(ctx, id, q.retryAction(sv))
	q.Kick()
	return err
}

// retryAction is RetryMessage's change of one message, for the message
// alone (changeBy) or with others in one commit (MessageBatch): due at
// sv's moment, with no step of the retry schedule (scheduler.go).
func (q *Manager) retryAction(sv StateView) msgAction {
	return msgAction{
		check: func(_ *Tx, m *Message) error { return sv.Refusal("retry", m) },
		apply: func(tx *Tx, m *Message) (func(Events), error) {
			if !m.NextAttempt.After(sv.Now) {
				return nil, nil
			}
			q.keepRetryNext(m, sv.Now)
			m.NextAttempt, m.ManualRetry = sv.Now, true
			return nil, tx.Put(m)
		},
	}
}

// retryGoesAhead says whether a retry of one of ids goes ahead as the
// messages are now (retryAction's check): only such a retry ends the
// dead destinations' cool-downs (RetryMessage). A message in its
// attempt is done alone, by RetryMessage, which decides for itself.
func (q *Manager) retryGoesAhead(ids []ID) bool {
	sv := NewStateView(q.clk.Now(), q.SuspendedQueues())
	ahead := false
	_ = q.store.View(func(tx *Tx) error {
		for _, id := range ids {
			m, err := tx.Get(id)
			if err == nil && m.State != Active && m.State != Quarantined && sv.Refusal("retry", m) == nil {
				ahead = true
				return nil
			}
		}
		return nil
	})
	return ahead
}

// heldOnlyBy is the suspended queue (one of them) every pending
// recipient of m waits in, "" when one waits in a queue not suspended.
func heldOnlyBy(m *Message, suspended []string) string {
	held := ""
	for _, i := range m.Pending() {
		name := queueOf(&m.Rcpts[i])
		if !slices.Contains(suspended, name) {
			return ""
		}
		held = name
	}
	return held
}

// Flush makes every waiting message due now, except those whose every
// pending recipient waits in a suspended queue (postqueue -f). It returns
// how many it rescheduled.
func (q *Manager) Flush(ctx context.Context) (n int, err error) {
	return q.queueActionAll(ctx, "flush", "", "")
}

// SuspendedQueues lists the suspended queues, sorted.
func (q *Manager) SuspendedQueues() []string {
	q.qmu.Lock()
	defer q.qmu.Unlock()
	out := make([]string, 0, len(q.suspended))
	for name := range q.suspended {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// RecipientOpen reports whether a recipient the views show with status
// (RecipientStatus) is still open here — to deliver, or a shadow copy's
// held for its primary — rather than finished (delivered, relayed,
// failed, done by primary). message list's RECIPIENTS column lists the
// open ones, as mailq lists the recipients not yet delivered.
func RecipientOpen(status string) bool {
	switch strings.TrimSuffix(status, " (not committed)") {
	case "delivered", "relayed", "failed", "done by primary":
		return false
	}
	return true
}

// keepRetryNext remembers the next attempt an operator's retry (message
// retry or resume, queue retry, resume or redirect, flush) replaces with
// now: when the attempt it makes due leaves recipients pending —
// whatever kept them: its destination busy (rt37 F4: 04:04:02 became
// 04:04:19), a refusal at RCPT or DATA, no connection, a dead
// destination (rt38 F2: a retry 5 s before the 40 s step ended made it
// due 40 s after the retry) — the message is due again no later than it
// was before the retry (finish). In memory: a restart makes the message
// due anyway. Kept until that attempt ends (finish), or the message
// does (Store.forgetDeleted): a message removed, expired or discarded
// before the attempt leaves nothing behind.
func (q *Manager) keepRetryNext(m *Message, now time.Time) {
	if m.NextAttempt.After(now) {
		q.retryNext.Store(m.ID, m.NextAttempt)
	}
}

// forgetDeleted drops what the manager over s keeps in memory of the
// message records a commit deleted (Tx.deleted): the next attempt an
// operator's retry replaced (keepRetryNext), which only the end of the
// attempt it made due forgot — every message removed, expired at its
// claim, discarded by its primary or handed back between a retry and
// that attempt stayed in memory until a restart.
func (s *Store) forgetDeleted(ids []ID) {
	if len(ids) == 0 {
		return
	}
	if q := s.early.Load(); q != nil {
		for _, id := range ids {
			q.retryNext.Delete(id)
		}
	}
}
