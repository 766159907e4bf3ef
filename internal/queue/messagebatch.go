package queue

import (
	"context"
	"time"
)

// Message actions on many messages per commit (rt20d-F1).
//
// umbra message suspend, resume and remove with a filter (--all, --queue
// …) act on each message selected as the command for one message does,
// with the same checks, writes and effects after the commit — but many
// messages share one commit: at most queueChunk messages, and a removal
// at most messageChunkBytes of bodies removed. One commit and one fsync
// per message made a removal of 100,000 messages take minutes.
//
// What a crash leaves: the commits made. Each commit is one bbolt
// transaction: every message of it is done, or none is; a message's
// effects that follow its commit (its tracking event, the discard
// notification's signal, its DSN's event) run only once that commit
// returned, as for one message. A refusal is decided before the
// message's writes begin (msgAction.check) and leaves it as it was; an
// error of a write ends the whole commit unwritten, and the messages of
// that chunk are then done one commit each, each answering its own
// error. A message the batch cannot take as it finds it — in delivery or
// settling (Active: withdraw.go, settling.go), quarantined, a damaged
// record, gone — is done after the chunk's commit by the command for one
// message, which waits and decides as it always did.

// messageChunkBytes bounds the bodies one commit of a batched removal
// deletes (the message sizes summed), with its DSNs.
const messageChunkBytes = 8 << 20

// msgAction is an operator's change of one message inside a
// transaction: check decides without writing (its error is the
// refusal, the message untouched); apply writes, and returns what runs
// once the commit went through (nil: nothing). Both run in the same
// transaction, one message after the other.
type msgAction struct {
	check func(tx *Tx, m *Message) error
	apply func(tx *Tx, m *Message) (func(), error)
}

// changeBy is a on message id in a commit of its own (change: a
// message in its attempt is withdrawn, a settling one waited for).
func (q *Manager) changeBy(ctx context.Context, id ID, a msgAction) error {
	var after func()
	err := q.change(ctx, id, func(tx *Tx, m *Message) error {
		after = nil
		if err := a.check(tx, m); err != nil {
			return err
		}
		f, err := a.apply(tx, m)
		after = f
		return err
	})
	if err == nil && after != nil {
		after()
	}
	return err
}

// MessageBatch carries out a message action (suspend, resume, remove;
// ndr and force as for RemoveMessage, RemoveMessageForce) on ids, in
// their order, many messages per commit, until until (zero: on all):
// the answer is each message's outcome, nil for done, for the ids it
// reached — a prefix of ids, never empty when ids is not. Each outcome
// is the one the command for that message alone answers
// (SuspendMessage, ResumeMessage, RemoveMessage). Another action
// (retry) is done one message at a time.
func (q *Manager) MessageBatch(ctx context.Context, action string, ids []ID, ndr, force bool, until time.Time) []error {
	errs := make([]error, 0, len(ids))
	for len(errs) < len(ids) {
		if len(errs) > 0 && (!until.IsZero() && time.Now().After(until) || ctx.Err() != nil) {
			break
		}
		chunk := ids[len(errs):min(len(ids), len(errs)+queueChunk)]
		errs = append(errs, q.messageChunk(ctx, action, chunk, ndr, force, until)...)
	}
	return errs
}

// messageOne is action on message id alone.
func (q *Manager) messageOne(ctx context.Context, action string, id ID, ndr, force bool) error {
	switch action {
	case "suspend":
		return q.SuspendMessage(ctx, id)
	case "resume":
		return q.ResumeMessage(ctx, id)
	case "remove":
		return q.remove(ctx, id, ndr, force)
	case "retry":
		return q.RetryMessage(ctx, id)
	}
	return ErrNotApplicable
}

// messageChunk is one commit of MessageBatch: the outcomes of a prefix
// of chunk (at least its first message).
func (q *Manager) messageChunk(ctx context.Context, action string, chunk []ID, ndr, force bool, until time.Time) []error {
	var a msgAction
	switch action {
	case "suspend":
		a = q.suspendAction(q.StateView(), q.clk.Now())
	case "resume":
		a = q.resumeAction(q.StateView())
	case "remove":
		a = q.operatorRemoval(ndr, force)
	default:
		return []error{q.messageOne(ctx, action, chunk[0], ndr, force)}
	}
	type outcome struct {
		err   error
		alone bool // done by the command for one message, after the commit
		after func()
	}
	var out []outcome
	err := q.store.Update(ctx, func(tx *Tx) error {
		out = out[:0] // the commit may run this again
		var bytes int64
		for _, id := range chunk {
			if len(out) > 0 && (!until.IsZero() && time.Now().After(until) || bytes >= messageChunkBytes) {
				break
			}
			m, err := tx.Get(id)
			if err != nil || m.State == Active || m.State == Quarantined {
				out = append(out, outcome{alone: true})
				continue
			}
			if err := a.check(tx, m); err != nil {
				out = append(out, outcome{err: err})
				continue
			}
			after, err := a.apply(tx, m)
			if err != nil {
				return err // nothing of the chunk is written; each is done alone below
			}
			if action == "remove" {
				bytes += m.Size
			}
			out = append(out, outcome{after: after})
		}
		return nil
	})
	if err != nil && ctx.Err() != nil {
		return []error{err} // the command went away: its first message failed, the rest not reached
	}
	if err != nil {
		errs := make([]error, len(chunk))
		for i, id := range chunk {
			if ctx.Err() != nil {
				return errs[:i] // the command went away: the rest not reached, not failed
			}
			errs[i] = q.messageOne(ctx, action, id, ndr, force)
		}
		return errs
	}
	errs := make([]error, len(out))
	for i, o := range out {
		if o.after != nil {
			o.after()
		}
		errs[i] = o.err
	}
	for i, o := range out {
		if o.alone {
			errs[i] = q.messageOne(ctx, action, chunk[i], ndr, force)
		}
	}
	q.Kick()
	return errs
}
