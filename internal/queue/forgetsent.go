package queue

import (
	"bytes"
	"context"
)

// Forgetting the discard notifications a shadow server has.
//
// A notification is forgotten once the peer provably has it (the reply
// was written and the peer spoke again: W-4, SR-15). The commit deletes
// an entry only if it still holds the value (the time it was written)
// that was sent: a notification written again under the same key since
// the reply — the same copy id, owed anew by another record under it
// (siblingcopy.go) — is a new one the peer has not seen, and stays. A
// forgetting that fails, or is lost at a crash, leaves them to be sent
// again: a shadow server ignores ids it does not know.

// sentNote is one notification sent: its bucket key and the value sent.
type sentNote struct {
	partial bool
	key     []byte
	val     []byte
}

// owed reads up to max notifications owed to server — the full ones,
// then, when partial, the partial ones — with what each entry holds now.
func (q *Manager) owed(server string, max int, partial, delay bool) (lines []string, notes []sentNote) {
	q.commitAside()
	_ = q.store.View(func(tx *Tx) error {
		names := tx.holderNamesTx(server) // holdernames.go: a name the topology misspelt too
		for _, name := range names {
			for _, id := range tx.Discards(name, max-len(lines)) {
				k := discardKey(name, id)
				lines = append(lines, id)
				notes = append(notes, sentNote{key: k, val: bytes.Clone(tx.tx.Bucket(bucketDiscards).Get(k))})
			}
		}
		if !partial {
			return nil
		}
		for _, name := range names {
			for _, p := range tx.partialNotes(name, max-len(lines), delay) {
				k := partialKey(name, p.ID, p.Addr)
				lines = append(lines, p.Wire())
				notes = append(notes, sentNote{partial: true, key: k, val: bytes.Clone(tx.tx.Bucket(bucketPartial).Get(k))})
			}
		}
		return nil
	})
	return lines, notes
}

// forgetSent is the acknowledgement of lines (notes) sent to server.
func (q *Manager) forgetSent(server string, lines []string, notes []sentNote) func() {
	return func() {
		if len(lines) == 0 {
			return
		}
		forgot := 0 // each notification is forgotten once: what a repeat's acknowledgement finds gone is not counted again
		err := q.store.Update(context.Background(), func(tx *Tx) error {
			forgot = 0
			for _, n := range notes {
				b := tx.tx.Bucket(bucketDiscards)
				if n.partial {
					b = tx.tx.Bucket(bucketPartial)
				}
				if v := b.Get(n.key); v == nil || !bytes.Equal(v, n.val) {
					continue // gone already, or owed anew since it was sent
				}
				if err := b.Delete(n.key); err != nil {
					return err
				}
				forgot++
			}
			return nil
		})
		if err != nil {
			q.log.Error("forgetting sent discard notifications failed; they will be sent again", "shadow_server", server, "err", err)
			return
		}
		if forgot > 0 && q.cfg.DiscardsSent != nil {
			q.cfg.DiscardsSent(forgot)
		}
	}
}

// commitAside commits the results set aside to ride along with a later
// commit (Store.UpdateDeferred, result_commit_delay) before a shadow
// server's question for its discards is answered: the question — plain
// XQUERYDISCARD at the end of a session as much as WAIT= — is a wait
// for them, and an answer without them would leave its copies there
// until the next heartbeat, and the window for a repeat after a crash
// here as long as the whole delay (rt21d L7). A commit only when
// something is set aside: an empty Update takes every set-aside writer
// into its transaction.
func (q *Manager) commitAside() {
	if q.store.deferredN.Load() == 0 {
		return
	}
	if err := q.store.Update(context.Background(), func(*Tx) error { return nil }); err != nil {
		q.log.Info("committing results set aside before a discard query failed; the query is answered with what is committed", "err", err)
	}
}
