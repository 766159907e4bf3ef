package queue

import (
	"bytes"
	"errors"
	"sync"
)

// Forgetting the discard notifications a shadow server has.
//
// A notification is forgotten once the peer provably has it (the reply
// was written and the peer spoke again: W-4, SR-15). The forgetting is
// not urgent — kept longer, a notification is only sent again, and a
// shadow server ignores ids it does not know — so it rides along with
// the next commit another writer asks for (Store.UpdateLater, at most
// the store's DeferLimit later) instead of paying two fdatasyncs of its
// own for every discard reply acknowledged: under shadow on receipt the
// watch session of a shadow server acknowledges one after nearly every
// result. The session that learnt it does not wait.
//
// Until that commit the entries stay stored, and a query meanwhile must
// not send them again: sentForgets holds them in memory (the query
// skips them), and they leave it when the commit is done — committed,
// they are gone; failed, they are owed and sent again. A crash before
// the commit loses only the memory: they are sent again.
//
// The commit deletes an entry only if it still holds the value (the
// time it was written) that was sent: a notification written again
// under the same key meanwhile — the same copy id, owed anew by another
// record under it (siblingcopy.go) — is a new one the peer has not
// seen, and stays.

// sentNote is one notification sent: its bucket key and the value sent.
type sentNote struct {
	partial bool
	key     []byte
	val     []byte
}

// sentForgets counts, per shadow server, the notifications acknowledged
// whose forgetting has not committed yet (by their wire form).
type sentForgets struct {
	mu sync.Mutex
	m  map[string]map[string]int
}

func (f *sentForgets) add(server string, lines []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[string]map[string]int{}
	}
	if f.m[server] == nil {
		f.m[server] = map[string]int{}
	}
	for _, l := range lines {
		f.m[server][l]++
	}
}

func (f *sentForgets) remove(server string, lines []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, l := range lines {
		if f.m[server][l]--; f.m[server][l] <= 0 {
			delete(f.m[server], l)
		}
	}
	if len(f.m[server]) == 0 {
		delete(f.m, server)
	}
}

// pending returns the wire forms being forgotten for server (a copy).
func (f *sentForgets) pending(server string) map[string]bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]bool, len(f.m[server]))
	for l := range f.m[server] {
		out[l] = true
	}
	return out
}

// owed reads up to max notifications owed to server — the full ones,
// then, when partial, the partial ones — skipping those whose
// forgetting is under way, with what each entry holds now.
func (q *Manager) owed(server string, max int, partial bool) (lines []string, notes []sentNote) {
	skip := q.forgets.pending(server)
	_ = q.store.View(func(tx *Tx) error {
		for _, id := range tx.Discards(server, max+len(skip)) {
			if len(lines) == max {
				break
			}
			if skip[id] {
				continue
			}
			k := discardKey(server, id)
			lines = append(lines, id)
			notes = append(notes, sentNote{key: k, val: bytes.Clone(tx.tx.Bucket(bucketDiscards).Get(k))})
		}
		if !partial || len(lines) == max {
			return nil
		}
		for _, p := range tx.PartialDiscards(server, max-len(lines)+len(skip)) {
			if len(lines) == max {
				break
			}
			w := p.Wire()
			if skip[w] {
				continue
			}
			k := partialKey(server, p.ID, p.Addr)
			lines = append(lines, w)
			notes = append(notes, sentNote{partial: true, key: k, val: bytes.Clone(tx.tx.Bucket(bucketPartial).Get(k))})
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
		q.forgets.add(server, lines)
		q.store.UpdateLater(func(tx *Tx) error {
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
			}
			return nil
		}, func(err error) {
			q.forgets.remove(server, lines)
			if err != nil && !errors.Is(err, ErrClosed) {
				q.log.Error("forgetting sent discard notifications failed; they will be sent again", "shadow_server", server, "err", err)
			}
		})
	}
}
