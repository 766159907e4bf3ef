package delivery

import (
	"context"
	"errors"
	"fmt"
	"sync"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/queue"
	"umbra/internal/smtp"
)

// Batches of copies on receipt (version 6 of the shadow verbs,
// smtp.PushBatch). Copies for one shadow server go in batches, leader
// and followers, like the group commit of the queue: a session whose
// copy finds no push to that server in flight pushes it at once, alone,
// on its own shadow session (so an idle server adds nothing to the
// latency); copies that come while a push is in flight queue, and when
// it returns the oldest queued session takes the lead and pushes every
// queued copy (up to smtp's bounds: 64 copies, MaxBatchBytes or the
// peer's SIZE) as one batch on its own session. One batch per server is
// in flight at a time.
//
// Each copy's outcome is its own: a copy the peer refused (its reply in
// the batch's) fails that copy's push as a refusal would alone; a batch
// that failed whole (the leader's session broke, the peer died, the
// batch was refused or not answered within receiptTry) fails the push of
// every copy in it with a temporary error, and each session then makes
// its second try alone on a new session (receiptLink.Push), as after any
// broken push; when that fails too (the server stopping or killed), the
// receive side moves the copy to the next candidate (midpush41). A queued copy waits at most for the batch in flight and
// its own, each bounded by receiptTry — and only for the one in flight
// when that batch was not answered within receiptTry (the server hangs):
// every copy queued behind it is answered with that timeout too, never
// led to the same hung server, and moves to the next candidate.
//
// A copy goes alone, never queued, when its session's peer does not
// speak version 6, when its body is spooled, or when its record would
// not fit a batch: those push as before (PushCopyBody).

type copyBatcher struct {
	mu       sync.Mutex
	inflight int // pushes to the server in flight, or leads being handed on
	queue    []*batchWaiter
}

// maxInflight bounds the batches to one server in flight at a time: two,
// so that the peer reads and checks one batch while it commits the
// other (with one, every copy waited for the peer's whole batch work
// serially, on one of its cores).
var maxInflight = 2

type batchWaiter struct {
	rec  []byte
	mark uint64            // the rollback mark of the copy's commit (queue marks.go)
	done chan batchOutcome // capacity 1
}

type batchOutcome struct {
	lead bool // this waiter leads the next batch
	err  error
}

// batcher returns the batcher of copies to the server named name.
func (r *ReceiptShadow) batcher(name string) *copyBatcher {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.batches[name]
	if b == nil {
		b = &copyBatcher{}
		r.batches[name] = b
	}
	return b
}

// pushBatched pushes the copy in a batch when it can go in one (see
// above), else alone.
func (l *receiptLink) pushBatched(ctx context.Context, m *queue.Message, body queue.Body) error {
	if body.Spooled() || !l.c.CanPushBatch() || m.RequireTLS {
		// A REQUIRETLS copy goes alone, on this link's verified
		// session: a batch goes on the session of its oldest copy.
		return l.push(ctx, m, body)
	}
	rec, ok := l.c.CopyRecord(m, body.Head())
	if !ok || len(rec) > l.c.BatchLimit() {
		return l.push(ctx, m, body)
	}
	b := l.r.batcher(l.srv.Name)
	w := &batchWaiter{rec: rec, mark: m.HolderMark, done: make(chan batchOutcome, 1)}
	b.mu.Lock()
	if b.inflight >= maxInflight {
		b.queue = append(b.queue, w)
		b.mu.Unlock()
		o := <-w.done // answered, or handed the lead, within the batch in flight's receiptTry
		if !o.lead {
			return o.err
		}
	} else {
		b.inflight++
		b.mu.Unlock()
	}
	return l.lead(ctx, b, w)
}

// lead pushes own's copy with every copy queued behind it that fits, on
// this link's session, answers the others, and hands the lead on.
func (l *receiptLink) lead(ctx context.Context, b *copyBatcher, own *batchWaiter) error {
	limit := l.c.BatchLimit()
	batch := []*batchWaiter{own}
	size := len(own.rec)
	b.mu.Lock()
	k := 0
	for k < len(b.queue) && len(batch) < smtp.MaxBatchCopies && size+len(b.queue[k].rec) <= limit {
		size += len(b.queue[k].rec)
		batch = append(batch, b.queue[k])
		k++
	}
	b.queue = append(b.queue[:0], b.queue[k:]...)
	b.mu.Unlock()

	records := make([][]byte, len(batch))
	var mark uint64
	for i, w := range batch {
		records[i] = w.rec
		mark = max(mark, w.mark)
	}
	errs, err := l.pushRecords(ctx, records, mark)
	var ownErr error
	for i, w := range batch {
		e := err
		if err == nil {
			e = errs[i]
		}
		if i == 0 {
			ownErr = e
		} else {
			w.done <- batchOutcome{err: e}
		}
	}

	b.mu.Lock()
	if err != nil && errors.Is(err, smtp.ErrCopyTimedOut) {
		// The server hangs (rt55 F3): the copies queued behind this
		// batch would be the next batch to it, a second bound for
		// their senders and a copy left on the hung server. Their try
		// ends with this one's timeout; the receive side moves each
		// to the next candidate, as for its own timed-out push.
		for _, w := range b.queue {
			// Nothing of theirs was written: they cannot be held there.
			w.done <- batchOutcome{err: &nothingHeldError{fmt.Errorf("queued behind a batch to a hung shadow server: %w", err)}}
		}
		b.queue = b.queue[:0]
	}
	if len(b.queue) > 0 {
		next := b.queue[0]
		b.queue = b.queue[1:]
		next.done <- batchOutcome{lead: true}
	} else {
		b.inflight--
	}
	b.mu.Unlock()
	return ownErr
}

// pushRecords is one try of a batch on the link's session, bounded by
// receiptTry. An error for the whole batch is temporary for each copy
// (never a *gosmtp.SMTPError: a batch the peer refused whole is retried
// alone, not taken for a refusal of each copy).
func (l *receiptLink) pushRecords(ctx context.Context, records [][]byte, mark uint64) ([]error, error) {
	ctx, cancel := boundedTry(ctx, receiptTry)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { l.c.Close() })
	defer stop()
	errs, err := l.c.PushBatchMarked(records, l.r.dbID, mark)
	var se *gosmtp.SMTPError
	switch {
	case err != nil && (ctx.Err() != nil || sessionTimedOut(ctx, err)):
		// Its own bound or its session's deadline run out (a hung
		// server), or the caller's end.
		return nil, cutTry(l.c, ctx, fmt.Sprintf("shadow copy batch of %d", len(records)), err)
	case err != nil && errors.As(err, &se):
		// Refused whole (its reply): nothing of it kept there, and
		// still no refusal of each copy (each is tried alone).
		return nil, &nothingHeldError{fmt.Errorf("shadow copy batch of %d failed: %v", len(records), err)}
	case err != nil:
		return nil, unlessDataSent(l.c, fmt.Errorf("shadow copy batch of %d failed: %v", len(records), err))
	}
	return errs, nil
}
