package queue

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"umbra/internal/panicline"
)

// Pending results (rt51 F5). An attempt whose results' commit failed (a
// full disk: the commit that must grow the file fails while a small one
// still finds a free page in it) has handed the message on: a next hop
// answered 250, a mailbox holds it. Making it due again would hand it on
// again at every retry for as long as the disk stays full — a copy at
// the next hop every strandedRetry. So the results stay here, in memory,
// with the function that commits them, and the scheduler's loop tries
// that commit again every strandedRetry until it goes through; then what
// follows from committed results (events, waiters, discard signals,
// DSNs kicked) happens as after a first commit that went through, and
// the attempt's final-delivery claims (finalclaims.go), held until then,
// are released: another copy of the message meanwhile finds its mailbox
// Busy, never Fresh. The
// message meanwhile is Active in the database, in no time index: never
// claimed, and every other writer treats it as in delivery (discards and
// takeovers kept aside, which the commit applies when it goes through;
// the operator's commands refuse or skip it). The commit function may
// run any number of times (as any function given to Store.Update).
//
// A stop loses what is pending here: the shutdown tries each commit once
// more (flushPendingResults), and what still fails is left Active, which
// the next start's Recover makes due again — the one repeat a full disk
// may cost, counted as the event "repeat" (doc.go, point 5).
type pendingResult struct {
	m         *Message
	commit    func(*Tx) error
	committed func()
	since     time.Time // the first failed commit
	failures  int       // failed commits so far
	lastErr   error
	// rcpts is the recipients as the attempt left them (their status,
	// queue, next hop and reply), copied when the commit first failed:
	// what message show gives, marked not committed (PendingOutcome).
	rcpts []Recipient
}

type pendingResults struct {
	mu   sync.Mutex
	byID map[ID]*pendingResult
	last time.Time // the last retry round
	// errLog paces the ERROR of a first failed commit (pendResults) as
	// every line a full disk repeats is paced (panicline.Gate): the
	// first of an episode at once, the next at most once a minute with
	// the failures left out (rt44 shadow4 F2: one line per message, 20
	// in 4 s for 20 taken-over messages). The round's WARN counts the
	// messages every strandedRetry. An episode ends only after a quiet
	// period — panicline.Interval with no line: the next failure is
	// then logged at once —, not when no result is pending any more: a
	// flapping disk (a commit failing, the next round's going through,
	// the next message's failing again) logged one ERROR per round of
	// 5 s (poison45 item 2). Each commit that goes through keeps its
	// INFO line, the recovery's.
	errLog panicline.Gate
}

// pendResults keeps an attempt's results whose commit failed with err;
// got are the recipients the attempt has results for: each gets its
// results-pending event (its queue, for the metric's queue type).
func (q *Manager) pendResults(m *Message, got []int, commit func(*Tx) error, committed func(), err error) {
	now := q.clk.Now()
	// What the log line and the events read of m is copied before the
	// entry is visible: from then on a retry of the commit (retry round,
	// flushPendingResults) may change m on another goroutine (shadow28
	// item 4: m was read after the lock was let go).
	shown := *m
	shown.Rcpts = slices.Clone(m.Rcpts)
	q.pending.mu.Lock()
	if q.pending.byID == nil {
		q.pending.byID = map[ID]*pendingResult{}
	}
	q.pending.byID[m.ID] = &pendingResult{m: m, commit: commit, committed: committed, since: now, failures: 1, lastErr: err,
		rcpts: slices.Clone(shown.Rcpts)}
	n := len(q.pending.byID)
	left, logged := q.pending.errLog.Due(now)
	q.pending.mu.Unlock()
	if logged {
		attrs := []any{"msg_id", shown.ID.String(), "err", err, "retry_in", strandedRetry, "pending", n}
		if left > 0 {
			attrs = append(attrs, "suppressed", left)
		}
		q.log.Error("committing delivery results failed; the results are kept and their commit tried again: the message is not attempted again meanwhile", attrs...)
	}
	for _, i := range got {
		q.ev.Event("results-pending", &shown, &shown.Rcpts[i], "delivery results not committed: "+err.Error())
	}
	if len(got) == 0 {
		q.ev.Event("results-pending", &shown, nil, "delivery results not committed: "+err.Error())
	}
	q.Kick()
}

// resultsPending says whether message id's results wait for their
// commit.
func (q *Manager) resultsPending(id ID) bool {
	q.pending.mu.Lock()
	defer q.pending.mu.Unlock()
	_, ok := q.pending.byID[id]
	return ok
}

// PendingResults is how many attempts' results wait for their commit.
func (q *Manager) PendingResults() int {
	q.pending.mu.Lock()
	defer q.pending.mu.Unlock()
	return len(q.pending.byID)
}

// PendingResult says whether message id's results wait for their commit:
// since when, and how many commits of them failed.
func (q *Manager) PendingResult(id ID) (since time.Time, failures int, lastErr error, ok bool) {
	q.pending.mu.Lock()
	defer q.pending.mu.Unlock()
	p, ok := q.pending.byID[id]
	if !ok {
		return time.Time{}, 0, nil, false
	}
	return p.since, p.failures, p.lastErr, true
}

// PendingOutcome is, for message id whose results wait for their
// commit, its recipients as the attempt left them (the outcome that
// waits); false when its results are not pending.
func (q *Manager) PendingOutcome(id ID) ([]Recipient, bool) {
	q.pending.mu.Lock()
	defer q.pending.mu.Unlock()
	p, ok := q.pending.byID[id]
	if !ok {
		return nil, false
	}
	return slices.Clone(p.rcpts), true
}

// pendingWait is how long the loop may sleep before the next retry of
// pending results; 0 with none.
func (q *Manager) pendingWait(now time.Time) time.Duration {
	q.pending.mu.Lock()
	defer q.pending.mu.Unlock()
	if len(q.pending.byID) == 0 {
		return 0
	}
	return max(q.pending.last.Add(strandedRetry).Sub(now), time.Millisecond)
}

// retryPendingResults tries the commit of every pending attempt's
// results again, when strandedRetry passed since the last round (always,
// with force: the stop's last try).
func (q *Manager) retryPendingResults(force bool) {
	now := q.clk.Now()
	q.pending.mu.Lock()
	if len(q.pending.byID) == 0 || !force && !q.pending.last.IsZero() && now.Sub(q.pending.last) < strandedRetry {
		q.pending.mu.Unlock()
		return
	}
	q.pending.last = now
	ps := make([]*pendingResult, 0, len(q.pending.byID))
	for _, p := range q.pending.byID {
		ps = append(ps, p)
	}
	q.pending.mu.Unlock()

	failed := 0
	var lastErr error
	for _, p := range ps {
		// Each alone: one that fails does not hold back the others.
		// Through the space reserve on a full disk (spacereserve.go):
		// the results free the message's room, or keep its outcome.
		err := q.store.UpdateFreeing(context.Background(), "the delivery results of "+p.m.ID.String(), p.commit)
		q.pending.mu.Lock()
		if err != nil {
			p.failures++
			p.lastErr = err
			q.pending.mu.Unlock()
			failed++
			lastErr = err
			if errors.Is(err, ErrClosed) {
				break
			}
			continue
		}
		// The pacing goes on: a commit that goes through ends no
		// episode (errLog) — a disk that fails every other round would
		// log one ERROR a round again.
		delete(q.pending.byID, p.m.ID)
		q.pending.mu.Unlock()
		q.log.Info("delivery results committed after their commit had failed; the message was not attempted again",
			"msg_id", p.m.ID.String(), "failed_commits", p.failures, "pending_for", now.Sub(p.since).Round(time.Millisecond))
		p.committed()
		q.releaseClaims(p.m.ID) // held with the results (finalclaims.go)
	}
	if failed > 0 && !errors.Is(lastErr, ErrClosed) {
		// One line a round (strandedRetry), whatever the number.
		q.log.Warn("delivery results still not committed; their messages stay in delivery and are not attempted again",
			"messages", failed, "err", lastErr, "retry_in", strandedRetry)
	}
}

// flushPendingResults is the stop's last try: what still fails is
// left to the next start's Recover (one repeat).
func (q *Manager) flushPendingResults() {
	q.retryPendingResults(true)
	if n := q.PendingResults(); n > 0 {
		q.log.Error("delivery results could not be committed before the stop: the next start attempts these messages again (a duplicate at their next hops)",
			"messages", n)
	}
}
