package queue

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
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
// own, the receipt's latency before its 250 is measured), a failed one
// in the commit of its mark, a copy made elsewhere in ShadowRecopied's,
// the message's end in its delete.
//
// A note left at a start is therefore no proof of a cut push: a kill -9
// right after a confirmed push's 250 leaves it too (rt47 F2: the
// message was called held by this server only, counted and warned of,
// while its holder kept the confirmed copy). Recover, at the start after
// any stop, moves each note whose message still needs its copy there to
// bucket receiptpushasked (message id → server), in its commit, and
// marks nothing: that server is asked, at its next holder probe, with
// the copies its records name (XQUERYKEPT: ShadowCopiesNamed,
// ShadowKeptAnswer). An answer that it keeps the copy ends the
// question (the push was confirmed); one that it has no record of it
// marks the message held by this server only at once — HowPushCut, the
// server kept as one that may hold the copy (addPushed: it gets the
// copy's discard when the copy is made elsewhere), the stop cut that
// push and nothing of it is on its way — and the holders' pass makes the
// copy again. A message marked already keeps its mark, that server added
// as one that may hold the copy, as before. A crash after the answer's
// commit leaves its outcome; before it, the entry, asked again. A
// server that never answers the question — unreachable, below shadow
// verbs 23 (never asked), or one that answers but cannot be asked —
// leaves it open only for the takeover bound (SetPushAskBound: shadow
// heartbeat timeout × retries, counted from the start that asked it):
// past it, the message is marked as an unanswered question's would be
// (HowPushCut, the server kept as one that may hold the copy), its copy
// made again and that server owed its discard (receipt48 item 3: the
// question stayed open with no time limit, the message shown with its
// copy confirmed on a server never asked).

// dropPushing forgets the note of message id's push in flight, and the
// question a restart left about it (receiptpushasked): its outcome is
// known.
func (t *Tx) dropPushing(id ID) error {
	if b := t.tx.Bucket(bucketPushAsked); b != nil {
		if err := b.Delete(id.Key()); err != nil {
			return err
		}
	}
	b := t.tx.Bucket(bucketPushing)
	if b == nil { // a database opened for a restore check
		return nil
	}
	return b.Delete(id.Key())
}

// pushAsked is the server a restart left the question of message id's
// push to, if any (receiptpushasked).
func (t *Tx) pushAsked(id ID) (string, bool) {
	b := t.tx.Bucket(bucketPushAsked)
	if b == nil {
		return "", false
	}
	v := b.Get(id.Key())
	return string(v), v != nil
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

// markCutPushesTx, in Recover's commit, moves the note of every push on
// receipt with no recorded outcome to the question of its holder
// (receiptpushasked): the push may have been confirmed before the stop.
// A message marked held by this server only already gets that server
// as one that may hold the copy. It returns the number asked.
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
		if tx.markedSingle(e.id) {
			if err := tx.addPushed(e.id, e.server, now); err != nil {
				return 0, err
			}
			continue
		}
		asked, err := tx.tx.CreateBucketIfNotExists(bucketPushAsked)
		if err != nil {
			return 0, err
		}
		if err := asked.Put(e.id.Key(), []byte(e.server)); err != nil {
			return 0, err
		}
		n++
	}
	return n, nil
}

// pushAskBound is how long the questions a start left (receiptpushasked)
// stay open: from the start that asked them, bound (SetPushAskBound).
type pushAskBound struct {
	mu    sync.Mutex
	bound time.Duration
	from  time.Time
}

// SetPushAskBound sets how long a shadow server may leave the question
// of a copy on receipt a stop cut short unanswered (the takeover bound,
// shadow heartbeat timeout × retries); 0 leaves them open.
func (q *Manager) SetPushAskBound(d time.Duration) {
	q.pushAsk.mu.Lock()
	q.pushAsk.bound = d
	q.pushAsk.mu.Unlock()
}

// expirePushAsked marks, once the bound passed since the start that
// asked them, every question still open (receiptpushasked) as its
// server's answer "no record" would (pushCutAnswer): HowPushCut, the
// server one that may hold the copy. It returns the number marked.
func (q *Manager) expirePushAsked(ctx context.Context) int {
	q.pushAsk.mu.Lock()
	bound, from := q.pushAsk.bound, q.pushAsk.from
	q.pushAsk.mu.Unlock()
	now := q.clk.Now()
	if bound <= 0 || from.IsZero() || now.Sub(from) < bound {
		return 0
	}
	open := false
	_ = q.store.View(func(tx *Tx) error {
		b := tx.tx.Bucket(bucketPushAsked)
		open = b != nil && b.Stats().KeyN > 0
		return nil
	})
	if !open {
		return 0
	}
	n := 0
	var servers []string
	err := q.store.Update(ctx, func(tx *Tx) error {
		n, servers = 0, servers[:0]
		b := tx.tx.Bucket(bucketPushAsked)
		if b == nil {
			return nil
		}
		type entry struct {
			id     ID
			server string
		}
		var entries []entry
		_ = b.ForEach(func(k, v []byte) error {
			if len(k) == 8 {
				entries = append(entries, entry{ID(beUint64(k)), string(v)})
			}
			return nil
		})
		for _, e := range entries {
			m, err := tx.Get(e.id)
			if err != nil || !needsCopy(m) {
				if err := b.Delete(e.id.Key()); err != nil {
					return err
				}
				continue
			}
			marked, err := tx.pushCutAnswer(m, e.server, true, now)
			if err != nil {
				return err
			}
			if marked {
				n++
				if !slices.Contains(servers, e.server) {
					servers = append(servers, e.server)
				}
			}
		}
		return nil
	})
	if err != nil {
		q.log.Error("marking the copies on receipt a stop cut short whose shadow server did not answer failed", "err", err)
		return 0
	}
	if n > 0 {
		q.log.Warn("shadow servers did not say within the takeover bound whether they stored copies on receipt a stop cut short: their copies are marked unconfirmed and made again, each such server owed its discard",
			"messages", n, "shadow_server", strings.Join(servers, ","), "bound", bound)
	}
	return n
}

// markCutPushes is markCutPushesTx in a commit of its own (Recover).
func (q *Manager) markCutPushes(ctx context.Context) {
	q.pushAsk.mu.Lock()
	q.pushAsk.from = q.clk.Now() // the questions of this start
	q.pushAsk.mu.Unlock()
	var n int
	err := q.store.Update(ctx, func(tx *Tx) error {
		var err error
		n, err = markCutPushesTx(tx, q.clk.Now())
		return err
	})
	switch {
	case err != nil:
		q.log.Error("recording the copies on receipt a stop may have cut short failed", "err", err)
	case n > 0:
		q.log.Info("copies on receipt pushed before the stop without a recorded outcome: their shadow servers are asked whether they stored them",
			"messages", n)
	}
}

// pushCutAnswer applies, in tx, server's answer about the copies on
// receipt a restart left it asked of (receiptpushasked): m's copy sid
// kept (missing false) ends the question; missing marks m held by this
// server only (HowPushCut), server kept as one that may hold the copy.
// It reports whether m was marked.
func (t *Tx) pushCutAnswer(m *Message, server string, missing bool, now time.Time) (bool, error) {
	asked, ok := t.pushAsked(m.ID)
	if !ok || !sameServer(asked, server) {
		return false, nil
	}
	if err := t.tx.Bucket(bucketPushAsked).Delete(m.ID.Key()); err != nil {
		return false, err
	}
	if !missing {
		return false, nil
	}
	// Said as what befell it, not a copy lost (HowPushCut): the server
	// may store it yet, and may have taken it over since.
	return true, t.markSingleKind(m.ID, server+howSep+HowPushCut, now, []string{server})
}

// PushAskedOf is the shadow server the question of message id's push on
// receipt is open with (receiptpushasked: a stop cut the push short, and
// that server has not said whether it stored the copy), if any: its copy
// there is unconfirmed until it answers or the bound passes
// (expirePushAsked).
func (q *Manager) PushAskedOf(id ID) (server string, ok bool) {
	_ = q.store.View(func(tx *Tx) error {
		server, ok = tx.pushAsked(id)
		return nil
	})
	return server, ok
}
