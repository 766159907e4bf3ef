package queue

import (
	"context"
	"errors"
	"time"
)

// A copy on receipt whose push a crash cut short (rt55 F4). The one
// commit of a message received with shadow on receipt names the server
// its copy goes to (ShadowServer, ShadowID: its org id), and the push
// follows the commit. A push that fails marks the message held by this
// server only (MarkSingleCopy); one that succeeds changes nothing. A
// kill -9 between the two left a record naming a holder that may never
// have stored the copy, and nothing said so: every view showed the copy
// made, and no pass made it.
//
// So the commit also notes the push as in flight (bucket receiptpush:
// message id → server; Message.PushOnReceipt), and its outcome takes the
// note away: a confirmed push with the next commit another writer asks
// for (ReceiptCopyConfirmed, Store.UpdateLater: no fdatasync of its
// own), a failed one in the commit of its mark, a copy made elsewhere
// in ShadowRecopied's, the message's end in its delete. Recover, at the
// start after any stop, finds the notes left: each message still
// needing its copy is marked held by this server only with the named
// server kept as one that may hold the copy (addPushed: the push may
// have been committed there; it gets the copy's discard when the copy
// is made elsewhere), and the holders' pass makes the copy again. A
// crash after a confirmed push and before its note went costs only a
// copy made again (the same server keeps a repeated push once).

// dropPushing forgets the note of message id's push in flight.
func (t *Tx) dropPushing(id ID) error {
	b := t.tx.Bucket(bucketPushing)
	if b == nil { // a database opened for a restore check
		return nil
	}
	return b.Delete(id.Key())
}

// ReceiptCopyConfirmed records that the copy on receipt of message id
// was stored by the server its commit named: the note of the push in
// flight goes with the next commit.
func (q *Manager) ReceiptCopyConfirmed(id ID) {
	q.store.UpdateLater(func(tx *Tx) error { return tx.dropPushing(id) }, func(err error) {
		if err != nil && !errors.Is(err, ErrClosed) {
			q.confirmFailed(id, err)
		}
	})
}

// confirmFailed logs a failed note of a confirmed copy on receipt as
// every line a full disk repeats is logged (panicline.Gate): the first
// at once, the next at most once a minute with the failures left out —
// on a full disk every copy's note fails, and one ERROR per message
// buried the rest of the log (the class of rt44 shadow4 F2).
func (q *Manager) confirmFailed(id ID, err error) {
	left, ok := q.confirmErrLog.Due(q.clk.Now())
	if !ok {
		return
	}
	attrs := []any{"msg_id", id.String(), "err", err}
	if left > 0 {
		attrs = append(attrs, "suppressed", left)
	}
	q.log.Error("recording a confirmed shadow copy failed; the copy is made again after a restart", attrs...)
}

// markCutPushesTx marks, in Recover's commit, every message whose push
// on receipt has no recorded outcome (a stop cut it short) held by this
// server only, the server named kept as one that may hold the copy. It
// returns their number.
func markCutPushesTx(tx *Tx, now time.Time) (int, error) {
	b := tx.tx.Bucket(bucketPushing)
	if b == nil {
		return 0, nil
	}
	type note struct {
		id     ID
		server string
	}
	var notes []note
	_ = b.ForEach(func(k, v []byte) error {
		if len(k) == 8 {
			notes = append(notes, note{ID(beUint64(k)), string(v)})
		}
		return nil
	})
	n := 0
	for _, e := range notes {
		if err := b.Delete(e.id.Key()); err != nil {
			return 0, err
		}
		m, err := tx.Get(e.id)
		if err != nil || !needsCopy(m) || !sameServer(m.ShadowServer, e.server) {
			continue // gone, done, or its copy named elsewhere since
		}
		if !tx.markedSingle(e.id) {
			// Said as what befell it, not a copy lost (HowPushCut): the
			// server may store it, and may have taken it over since.
			if err := tx.markSingleKind(e.id, e.server+howSep+HowPushCut, now, []string{e.server}); err != nil {
				return 0, err
			}
		} else if err := tx.addPushed(e.id, e.server, now); err != nil {
			return 0, err
		}
		n++
	}
	return n, nil
}

// markCutPushes is markCutPushesTx in a commit of its own (Recover).
func (q *Manager) markCutPushes(ctx context.Context) {
	var n int
	err := q.store.Update(ctx, func(tx *Tx) error {
		var err error
		n, err = markCutPushesTx(tx, q.clk.Now())
		return err
	})
	switch {
	case err != nil:
		q.log.Error("marking the copies on receipt a stop cut short failed", "err", err)
	case n > 0:
		q.log.Warn("messages held by this server only: the stop cut their copy on receipt short; they are copied again",
			"messages", n)
	}
}
