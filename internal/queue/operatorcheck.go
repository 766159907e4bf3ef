package queue

import (
	"errors"
	"fmt"
)

// ErrNotApplicable refuses an operator's action on a message the action
// does not apply to in its state (resume of a message that is not
// suspended): not an error to try again.
var ErrNotApplicable = errors.New("the action does not apply to the message")

// NotApplicableError refuses an action on an object other than a message
// (a transport database id still held) in words about that object: it is
// ErrNotApplicable to errors.Is — the CLI's exit 1, the admin API's
// status — but never says "the message".
type NotApplicableError struct{ Msg string }

func (e *NotApplicableError) Error() string        { return e.Msg }
func (e *NotApplicableError) Is(target error) bool { return target == ErrNotApplicable }

// Refusal is why the operator's action on one message (suspend, resume,
// retry, remove) does not apply to m as v sees it, nil when it does. It
// is the one check both the action (SuspendMessage, ResumeMessage,
// RetryMessage, RemoveMessage) and its dry run (umbra message ACTION
// --dry-run) make, so that a dry run predicts what the action does.
// A message in delivery is ErrBusy: that passes. A message claimed whose
// every job waits for a slot of its destination's window (the view's
// jobs: WithJobs) is checked as the action finds it, Ready (asReady).
func (v StateView) Refusal(action string, m *Message) error {
	if m.State == Active {
		j := v.jobs[m.ID]
		c := *m
		if err := asReady(&c, j != nil && j.whole); err != nil {
			return err
		}
		m = &c
	}
	if m.State == Damaged && action != "remove" {
		return damagedRefusal(m.ID, "message "+action) // damaged.go
	}
	switch action {
	case "suspend":
		switch m.State {
		case Poison:
			return nothingToDo("in the poison queue (resume or remove it)",
				fmt.Errorf("%w: message %s is in the poison queue: resume or remove it", ErrNotApplicable, m.ID))
		case Quarantined:
			return errQuarantined(m.ID)
		case Shadow:
			return shadowCopyErr(m, "suspend")
		case Suspended:
			// Answering "suspend" (and auditing it as done) for a
			// message already held would report an action that
			// changed nothing.
			return nothingToDo("already suspended",
				fmt.Errorf("%w: message %s is already suspended: nothing to suspend (umbra message resume releases it)", ErrNotApplicable, m.ID))
		}
	case "resume":
		switch m.State {
		case Suspended:
			// A message a restore suspended in a queue suspended too is
			// held twice: its resume would say it goes again while the
			// queue still holds it, and start its tenth of the expiry
			// for an attempt that cannot come (ops49 F2). The queue's
			// resume comes first; the message keeps the restore's hold.
			// So is one the operator suspended (message suspend) in a
			// suspended queue: its resume released its own hold and
			// answered as if it went again, while the queue still held
			// it (loop49 F2).
			if held := heldOnlyBy(m, v.suspendedList()); held != "" {
				what := "suspended (message suspend)"
				if m.RestoredSuspended() {
					what = "restored suspended by db restore"
				}
				return nothingToDo(heldSkip, fmt.Errorf("%w: message %s is %s and waits in %s, which is suspended too: "+
					"umbra queue resume %s first, then umbra message resume %s (a resume now would release nothing that lets it go)",
					ErrQueueSuspended, m.ID, what, held, held, m.ID))
			}
			return nil
		case Poison:
			return nil
		case Quarantined:
			return errQuarantined(m.ID)
		case Shadow:
			return shadowCopyErr(m, "resume")
		}
		if held := heldOnlyBy(m, v.suspendedList()); held != "" && m.State == Ready {
			return nothingToDo(heldSkip, fmt.Errorf("%w: message %s is not suspended: it waits in %s, held until umbra queue resume %s",
				ErrQueueSuspended, m.ID, held, held))
		}
		return nothingToDo("not suspended or poison: nothing to resume",
			fmt.Errorf("%w: message %s is %s, not suspended or poison: nothing to resume (umbra message retry makes a waiting message due now)",
				ErrNotApplicable, m.ID, v.State(m)))
	case "retry":
		if m.State == Shadow {
			return shadowCopyErr(m, "retry")
		}
		if m.State != Ready {
			return nothingToDo("not waiting for a retry", fmt.Errorf("%w: message %s is %s, not waiting for a retry", ErrNotApplicable, m.ID, v.State(m)))
		}
		if held := heldOnlyBy(m, v.suspendedList()); held != "" {
			return nothingToDo(heldSkip, fmt.Errorf("%w: message %s waits in %s, held until umbra queue resume %s", ErrQueueSuspended, m.ID, held, held))
		}
	case "remove":
		if hasShadowed(m) {
			return shadowCopyRemoveErr(m) // RemoveMessageForce removes it
		}
	default:
		return fmt.Errorf("%w: unknown message action %q", ErrNotApplicable, action)
	}
	return nil
}

func (v StateView) suspendedList() []string {
	out := make([]string, 0, len(v.Suspended))
	for name := range v.Suspended {
		out = append(out, name)
	}
	return out
}

// heldSkip is the skip reason of a message its suspended queue holds.
const heldSkip = "held by a suspended queue (umbra queue resume)"

// skipError is a refusal of an action that has nothing to do on the
// message in its state (resume of a message not suspended, suspend of
// one already suspended): one message's action refuses it (its error),
// a bulk action skips the message by reason (SkipReason), as for a
// message another command changed after the bulk action selected it.
type skipError struct {
	reason string
	err    error
}

func (e skipError) Error() string { return e.err.Error() }
func (e skipError) Unwrap() error { return e.err }

func nothingToDo(reason string, err error) error { return skipError{reason: reason, err: err} }

// SkipReason is the reason a bulk action skips a message whose action
// was refused with err as having nothing to do ("" for any other error
// or nil): rt17e-F5, "nothing to do" is a skip by reason, never a
// failure.
func SkipReason(err error) string {
	var se skipError
	if errors.As(err, &se) {
		return se.reason
	}
	return ""
}
