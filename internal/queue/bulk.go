package queue

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Operator actions on many messages, and the names the operator may use.

// UnknownNameError is an operator's name (a queue, a state) that does not
// exist; Valid lists those that do, for the error message.
type UnknownNameError struct {
	Kind  string // "queue", "state"
	Name  string
	Valid []string
}

func (e *UnknownNameError) Error() string {
	if len(e.Valid) == 0 {
		return fmt.Sprintf("no %s %q; valid: none now", e.Kind, e.Name)
	}
	return fmt.Sprintf("no %s %q; valid: %s", e.Kind, e.Name, strings.Join(uniqueNames(e.Valid), ", "))
}

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
// its next attempt after a deferral (what its queue shows as "retry").
var MessageStates = []string{"ready", "retry", "active", "suspended", "poison", "shadow", "quarantined"}

// QueueStatuses are the statuses a queue is shown in (QueueInfo.Status).
var QueueStatuses = []string{"ready", "retry", "active", "suspended", "kept", "held"}

// DeliveryTypes are the delivery types of queues (DeliveryType).
var DeliveryTypes = []string{"smtp-mx", "smtp-smart-host", "mailbox", "smtp-redirect", "site", "shadow", "legacy",
	"dumpster", QueueSubmission, QueuePoison, "unreachable", QueueQuarantine, "other"}

// DisplayState is the state the operator sees for a message at now.
func DisplayState(m *Message, now time.Time) string {
	if m.State == Ready && m.Attempts > 0 && m.NextAttempt.After(now) {
		return "retry"
	}
	return m.State.String()
}

// WaitingRetry counts the messages of queue name that wait for a retry
// after a deferral at now (DisplayState "retry"), reading at most limit
// records: the split of ready messages that the metrics, the CLI and the
// console all show as "retry".
func (t *Tx) WaitingRetry(name string, now time.Time, limit int) int {
	n := 0
	for _, id := range t.InQueue(name, limit) {
		if m, err := t.Get(id); err == nil && DisplayState(m, now) == "retry" {
			n++
		}
	}
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

// CheckQueue returns an UnknownNameError for a queue the operator names
// that does not exist now (no message waits in it and it is not
// suspended). With mayBeNew (a suspension ahead of maintenance), a
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
// as an attempt.
func (q *Manager) RetryMessage(ctx context.Context, id ID) error {
	q.reviveDead()
	now := q.clk.Now()
	err := q.change(ctx, id, func(tx *Tx, m *Message) error {
		if m.State == Shadow {
			return shadowCopyErr(m, "retry")
		}
		if m.State != Ready {
			return fmt.Errorf("message %s is %s, not waiting for a retry", id, m.State)
		}
		if !m.NextAttempt.After(now) {
			return nil
		}
		m.NextAttempt, m.ManualRetry = now, m.Attempts > 0 // no step of the retry schedule (scheduler.go)
		return tx.Put(m)
	})
	q.Kick()
	return err
}

// Flush makes every waiting message due now, except those whose every
// pending recipient waits in a suspended queue (postqueue -f). It returns
// how many it rescheduled.
func (q *Manager) Flush(ctx context.Context) (int, error) {
	q.reviveDead()
	now := q.clk.Now()
	q.qmu.Lock()
	suspended := make(map[string]bool, len(q.suspended))
	for k := range q.suspended {
		suspended[k] = true
	}
	q.qmu.Unlock()
	n := 0
	err := q.store.Update(ctx, func(tx *Tx) error {
		n = 0
		var due []*Message
		tx.ForEach(func(m *Message, err error) bool {
			if err != nil || m.State != Ready || !m.NextAttempt.After(now) {
				return true
			}
			for _, i := range m.Pending() {
				if !suspended[queueOf(&m.Rcpts[i])] {
					due = append(due, m)
					break
				}
			}
			return true
		})
		for _, m := range due {
			m.NextAttempt, m.ManualRetry = now, m.Attempts > 0 // no step of the retry schedule
			if err := tx.Put(m); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	q.Kick()
	q.log.Info("queues flushed", "messages", n)
	return n, err
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
