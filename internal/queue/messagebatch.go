package queue

import (
	"context"
	"time"
)

// Message actions on many messages per commit (rt20d-F1).
//
// umbra message suspend, resume, remove and retry with a filter (--all,
// --queue …) act on each message selected as the command for one
// message does, with the same checks, writes and effects after the
// commit — but many messages share one commit, cut as a queue action's
// commits are (inChunks: at most queueChunk messages, ending by the
// batch's time), and a removal's at most messageChunkBytes of bodies
// removed. One commit and one fsync per message made a removal of
// 100,000 messages take minutes, and a retry of 100,000 370 s (5 s in
// 391 commits now: BenchmarkMessageBatchRetry). The tracking events of
// a commit's messages are written in one batch (eventBatch) after it.
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
// record, gone — ends its commit and is done right after it by the
// command for one message, which waits and decides as it always did; a
// command gone by then (ctx) has it not reached, not failed.

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
	apply func(tx *Tx, m *Message) (func(ev Events), error)
}

// changeBy is a on message id in a commit of its own (change: a
// message in its attempt is withdrawn, a settling one waited for).
func (q *Manager) changeBy(ctx context.Context, id ID, a msgAction) error {
	return q.changeByFreeing(ctx, id, "", a)
}

// changeByFreeing is changeBy for a change that frees room, named by
// freeing (changeOnceFreeing).
func (q *Manager) changeByFreeing(ctx context.Context, id ID, freeing string, a msgAction) error {
	var after func(Events)
	err := q.changeFreeing(ctx, id, freeing, func(tx *Tx, m *Message) error {
		after = nil
		if err := a.check(tx, m); err != nil {
			return err
		}
		f, err := a.apply(tx, m)
		after = f
		return err
	})
	if err == nil && after != nil {
		after(q.ev)
	}
	return err
}

// MessageBatch carries out a message action (suspend, resume, remove,
// retry; ndr and force as for RemoveMessage, RemoveMessageForce) on ids,
// in their order, many messages per commit, until until (zero: on all):
// the answer is each message's outcome, nil for done, for the ids it
// reached — a prefix of ids, never empty when ids is not. Each outcome
// is the one the command for that message alone answers
// (SuspendMessage, ResumeMessage, RemoveMessage, RetryMessage).
//
// The commits are cut as a queue action's are (inChunks: at most
// queueChunk messages, ending by until, its commits included), a
// removal's also at most messageChunkBytes of bodies. A commit ends
// after the first message it leaves to the command for one message
// (alone: in delivery or settling, quarantined, damaged, gone), which is
// done right after that commit: so the outcomes reached are always a
// prefix of ids, every message before the last one reached done or
// refused, none after it touched. A command that went away (ctx) gets
// the outcomes reached: a message not reached is not failed.
func (q *Manager) MessageBatch(ctx context.Context, action string, ids []ID, ndr, force bool, until time.Time) []error {
	a, ok := q.messageAction(action, ndr, force)
	if !ok {
		return []error{q.messageOne(ctx, action, ids[0], ndr, force)}
	}
	type outcome struct {
		err   error
		alone bool // done by the command for one message, after the commit
		after func(Events)
	}
	var (
		errs    = make([]error, 0, min(len(ids), queueChunk))
		cur     []outcome // the commit's, in the order of its ids
		bytes   int64     // of the bodies the commit removes
		stopped bool      // the command went away before a message left alone
		failed  []ID      // the chunk of a commit that failed
		revived bool
	)
	steps := chunkSteps{
		begin: func() { cur, bytes = cur[:0], 0 },
		full: func() bool {
			return len(cur) > 0 && cur[len(cur)-1].alone || bytes >= messageChunkBytes
		},
		gone: func(ID) { cur = append(cur, outcome{alone: true}) }, // a damaged record, or gone: answered alone
		before: func(chunk []ID) error {
			if action == "retry" && !revived {
				// A retry that goes ahead ends every dead destination's
				// cool-down ahead of its commit (RetryMessage); one
				// refused changes nothing.
				revived = q.retryGoesAhead(chunk)
				if revived {
					q.reviveDead()
				}
			}
			return nil
		},
		after: func(chunk []ID, reached int, err error) {
			if err != nil {
				failed = chunk
				return
			}
			// The commit's tracking events in one write (eventBatch).
			ev, flush := q.eventBatch()
			for _, o := range cur {
				if o.after != nil {
					o.after(ev)
				}
			}
			flush()
			for i, o := range cur {
				if !o.alone {
					errs = append(errs, o.err)
					continue
				}
				// The commit's last (full): done alone, unless the
				// command went away — then not reached, not failed.
				if ctx.Err() != nil {
					stopped = true
					return
				}
				errs = append(errs, q.messageOne(ctx, action, chunk[i], ndr, force))
			}
		},
	}
	change := func(tx *Tx, m *Message) (bool, error) {
		if m.State == Active || m.State == Quarantined {
			cur = append(cur, outcome{alone: true})
			return false, nil
		}
		if err := a.check(tx, m); err != nil {
			cur = append(cur, outcome{err: err})
			return false, nil
		}
		after, err := a.apply(tx, m)
		if err != nil {
			return false, err // nothing of the chunk is written; each is done alone below
		}
		if action == "remove" {
			bytes += m.Size
		}
		cur = append(cur, outcome{after: after})
		return true, nil
	}
	for len(errs) < len(ids) && !stopped {
		if len(errs) > 0 && (!until.IsZero() && time.Now().After(until) || ctx.Err() != nil) {
			break
		}
		failed = nil
		_, _, err := q.inChunks(ctx, ids[len(errs):], until, steps, change)
		if err == nil {
			break // all done, or the time is up
		}
		if ctx.Err() != nil {
			if len(errs) == 0 {
				errs = append(errs, err) // the command went away: its first message failed, the rest not reached
			}
			break
		}
		// A write of the commit failed: nothing of it is written, and its
		// messages are done one commit each, each answering its own error.
		for _, id := range failed {
			if ctx.Err() != nil {
				break // the command went away: the rest not reached, not failed
			}
			errs = append(errs, q.messageOne(ctx, action, id, ndr, force))
		}
		if len(failed) == 0 {
			if len(errs) == 0 {
				errs = append(errs, err)
			}
			break
		}
	}
	return errs
}

// messageAction is the change of one message action makes, for many
// messages per commit; false for an action done one message at a time.
func (q *Manager) messageAction(action string, ndr, force bool) (msgAction, bool) {
	switch action {
	case "suspend":
		return q.suspendAction(q.StateView(), q.clk.Now()), true
	case "resume":
		return q.resumeAction(q.StateView()), true
	case "remove":
		return q.operatorRemoval(ndr, force), true
	case "retry":
		return q.retryAction(NewStateView(q.clk.Now(), q.SuspendedQueues())), true
	}
	return msgAction{}, false
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
