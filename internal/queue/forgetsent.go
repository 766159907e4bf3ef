package queue

import (
	"bytes"
	"context"
	"maps"
	"sync"
	"sync/atomic"
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
// An entry whose forgetting is under way (acknowledged, holding what was
// sent) is not owed: the peer has it.
func (q *Manager) owed(server string, max int, partial, delay bool) (lines []string, notes []sentNote) {
	lines, notes, _ = q.owedMarked(server, max, partial, delay, nil)
	return lines, notes
}

// owedMarked is owed with the rollback mark this server presents to
// server — markOf's, or nil for ShadowHolderMark's — read in the same
// read transaction as the notifications: every copy whose discard is
// listed was committed in the state read, so its mark is not above the
// one returned, and every copy committed after has a higher one
// (markedlisting.go).
func (q *Manager) owedMarked(server string, max int, partial, delay bool, markOf func(*Tx) uint64) (lines []string, notes []sentNote, mark uint64) {
	q.commitAside()
	// The forgettings under way are read before the store: one that
	// ends (its commit lands) after this read ended before the View
	// below began, so the View no longer holds its entry — read the
	// other way round, an entry the View still held could be found no
	// longer under way and be sent again after its acknowledgement.
	forgetting := q.forgetting.snapshot()
	aside := len(forgetting) // entries read past to fill max
	_ = q.store.View(func(tx *Tx) error {
		if markOf != nil {
			mark = markOf(tx)
		} else if tx.tx.Bucket(bucketHolderMarks) != nil {
			_, mark = tx.holderMarkTx(server) // as ShadowHolderMark reads it
		}
		names := tx.holderNamesTx(server) // holdernames.go: a name the topology misspelt too
		for _, name := range names {
			for _, id := range tx.Discards(name, max-len(lines)+aside) {
				k := discardKey(name, id)
				v := tx.tx.Bucket(bucketDiscards).Get(k)
				if forgetting.under(false, k, v) || len(lines) == max {
					continue
				}
				lines = append(lines, id)
				notes = append(notes, sentNote{key: k, val: bytes.Clone(v)})
			}
		}
		if !partial {
			return nil
		}
		for _, name := range names {
			for _, p := range tx.partialNotes(name, max-len(lines)+aside, delay) {
				k := partialKey(name, p.ID, p.Addr)
				v := tx.tx.Bucket(bucketPartial).Get(k)
				if forgetting.under(true, k, v) || len(lines) == max {
					continue
				}
				lines = append(lines, p.Wire())
				notes = append(notes, sentNote{partial: true, key: k, val: bytes.Clone(v)})
			}
		}
		return nil
	})
	return lines, notes, mark
}

// forgetSent is the acknowledgement of lines (notes) sent to server. The
// forgetting is no commit of its own: it rides along with the next
// commit a writer asks for (Store.UpdateLaterUnread; at most DeferLimit
// later), and until then the entries are left out of what is owed
// (forgetting). Lost at a crash, they are sent again.
func (q *Manager) forgetSent(server string, lines []string, notes []sentNote) func() {
	return func() {
		if len(lines) == 0 {
			return
		}
		q.forgetting.begin(notes)
		// Fetched from here on (owed leaves them out): a receipt
		// waiting for it may send its 250 (watchfetch.go).
		q.dsig.signalFetched(server)
		forgot := 0 // each notification is forgotten once: what a repeat's acknowledgement finds gone is not counted again
		q.store.UpdateLaterUnread(func(tx *Tx) error {
			forgot = 0 // the function runs again when its group's commit failed
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
				tx.forgotNote(n.partial, n.key, n.val) // a notification owed anew in this transaction is stamped apart (tx.go)
				forgot++
			}
			return nil
		}, func(err error) {
			q.forgetting.end(notes)
			if err != nil {
				q.log.Error("forgetting sent discard notifications failed; they will be sent again", "shadow_server", server, "err", err)
				return
			}
			if forgot > 0 && q.cfg.DiscardsSent != nil {
				q.cfg.DiscardsSent(forgot) // umbra_shadow_discards_sent_total: once each, when forgotten
			}
		})
	}
}

// forgetting holds the notifications whose forgetting is under way: the
// bucket key (and which bucket) with the value that was sent. An entry
// holding another value was owed anew since, and is owed.
type forgetting struct {
	mu sync.Mutex
	m  map[forgetKey][]byte
	n  atomic.Int64 // len(m), read without the lock
}

type forgetKey struct {
	partial bool
	key     string
}

func (f *forgetting) begin(notes []sentNote) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[forgetKey][]byte{}
	}
	for _, n := range notes {
		f.m[forgetKey{n.partial, string(n.key)}] = n.val
	}
	f.n.Store(int64(len(f.m)))
}

// end: the forgetting of notes committed (the entries are gone) or
// failed (they are owed again).
func (f *forgetting) end(notes []sentNote) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range notes {
		k := forgetKey{n.partial, string(n.key)}
		if v, ok := f.m[k]; ok && bytes.Equal(v, n.val) {
			delete(f.m, k)
		}
	}
	f.n.Store(int64(len(f.m)))
}

// forgettingNow is the forgettings under way at one moment (snapshot).
type forgettingNow map[forgetKey][]byte

// snapshot is the forgettings under way now (nil: none).
func (f *forgetting) snapshot() forgettingNow {
	if f.n.Load() == 0 {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.m)
}

// under reports whether the entry key holding val was being forgotten
// when the snapshot was taken.
func (s forgettingNow) under(partial bool, key, val []byte) bool {
	if len(s) == 0 || val == nil {
		return false
	}
	v, ok := s[forgetKey{partial, string(key)}]
	return ok && bytes.Equal(v, val)
}

func (f *forgetting) len() int { return int(f.n.Load()) }

// commitAside commits the results set aside to ride along with a later
// commit (Store.UpdateDeferred, result_commit_delay) before a shadow
// server's question for its discards is answered: the question — plain
// XQUERYDISCARD at the end of a session as much as WAIT= — is a wait
// for them, and an answer without them would leave its copies there
// until the next heartbeat, and the window for a repeat after a crash
// here as long as the whole delay (rt21d L7). A commit only when
// something is set aside: an empty Update takes every set-aside writer
// into its transaction.
//
// The forgettings of acknowledged notifications set aside do not count
// (Store.UpdateLaterUnread): owed leaves their entries out.
func (q *Manager) commitAside() {
	if !q.store.awaitedAside() {
		return
	}
	if err := q.store.Update(context.Background(), func(*Tx) error { return nil }); err != nil {
		q.log.Info("committing results set aside before a discard query failed; the query is answered with what is committed", "err", err)
	}
}
