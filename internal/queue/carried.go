package queue

import (
	"bytes"
	"slices"
	"time"
)

// Copies carried by an original (the crash-duplicate window; doc.go,
// "Merging a copy").
//
// A message this server holds and still owes a recipient of (Ready,
// pending, never handed on) can arrive again, in a shadow session, under
// another copy id than the original's own: an earlier hop's copy taken
// over after its primary died before it had the discard, relayed here by
// the hub that took it over (or by another hub it went through), with
// the same organisation message id and recipients. Queued beside the
// original, it is delivered twice; merged with the sender's copy
// discarded in the same commit, the message would be on this disk only
// (the original's own copy may be the dead primary's). So the recipient
// merges and the sender's copy is carried by the original: written here
// in the merge commit (bucket carriedcopies, two keys:
// 'o' ‖ original id ‖ server ‖ 0x00 ‖ copy id and
// 's' ‖ server ‖ 0x00 ‖ copy id ‖ 0x00 ‖ original id), it keeps the copy
// needed (copyNeededElsewhere; XQUERYHELD answers it held, heldquery.go)
// while the original exists, and the
// commit that removes the original (Tx.Delete: delivered, relayed,
// failed, removed) or holds it (hold.go) writes its discard, unless
// another record here still needs that copy (its end writes it then).
// Crash: the merge and the entry are one commit, the end and the discard
// another: a crash leaves the copy carried (its discard comes with the
// original's end) or discarded with that end, never discarded before.
//
// Recipient by recipient (rt17 follow-up): the 'o' entry's value names
// the recipients carried, each as a pair (the original's address, the
// copy's address — the sender's copy names its recipients as it sent
// them, "B@Remote.Example" where the original has "b@remote.example").
// Every commit that writes the original (Tx.Put: results, a primary's
// discard, a give-back, a quarantine, an operator's removal of a
// recipient) settles, in that commit, each carried recipient the
// original no longer has pending: a partial discard for the copy's
// address (partialdiscard.go), unless another record here still needs
// it (pendingUnderCopy), and the pair leaves the entry; the last pair
// takes the entry with it and writes the copy's full discard (sibling
// rule: addDiscardFor). So the sender learns of each recipient as the
// plain path's sender does, and an original that keeps retrying one
// recipient does not keep the others' copy. An entry written by an
// older release has no value: it is settled whole at the original's end,
// as before. A crash leaves the recipient pending and carried, or
// finished with its partial discard written: never finished and carried.
// What stays open: a crash of this server past the sender's takeover
// delay still has the sender take the copy over (a duplicate, never a
// loss).

// The server in both keys is serverKey of the name the copy's record
// gave its holder (holderfold.go): a holder asks as one spelling, its
// copy was relayed here under another, and the question (XQUERYHELD),
// the copy's discard and the check of its other records
// (copyNeededElsewhere) find it under either. A release before keyed
// the name as the session stated it: folded at Open (foldCarried).

func carriedByOriginal(o ID, server, id string) []byte {
	return append(append(append(append([]byte{'o'}, o.Key()...), serverKey(server)...), 0), id...)
}

func carriedByCopy(server, id string, o ID) []byte {
	return append(carriedCopyPrefix(server, id), o.Key()...)
}

// carriedCopyPrefix is the start of the 's' keys of server's copy id.
func carriedCopyPrefix(server, id string) []byte {
	return append(append(append(append([]byte{'s'}, serverKey(server)...), 0), id...), 0)
}

// carryCopy records, in the commit that merges a copy into original o,
// that o carries the copy id of server for its recipient addr (the
// copy's recipient copyAddr).
func (t *Tx) carryCopy(o ID, server, id, addr, copyAddr string) error {
	b := t.tx.Bucket(bucketCarried)
	if b == nil || server == "" || id == "" {
		return nil
	}
	k := carriedByOriginal(o, server, id)
	var pairs []carriedPair
	if found, v := b.Cursor().Seek(k); bytes.Equal(found, k) { // an empty value is an entry too
		var whole bool
		if pairs, whole = decodeCarried(v); whole {
			return nil // an older release's entry: settled whole at o's end
		}
	}
	p := carriedPair{addr, copyAddr}
	if !slices.Contains(pairs, p) {
		pairs = append(pairs, p)
	}
	if err := b.Put(k, encodeCarried(pairs)); err != nil {
		return err
	}
	return b.Put(carriedByCopy(server, id, o), nil)
}

// carriedPair is a recipient an original carries a copy for: its own
// address and the copy's.
type carriedPair struct{ addr, copyAddr string }

const carriedVersion = 1

func encodeCarried(pairs []carriedPair) []byte {
	e := encoder{buf: []byte{carriedVersion}}
	for _, p := range pairs {
		e.str(p.addr)
		e.str(p.copyAddr)
	}
	return e.buf
}

// decodeCarried reads an 'o' entry's value; whole is true for one that
// names no recipients (an older release's, or one that does not
// decode): the copy is carried whole, until the original's end.
func decodeCarried(v []byte) (pairs []carriedPair, whole bool) {
	if len(v) == 0 || v[0] != carriedVersion {
		return nil, true
	}
	d := decoder{buf: v[1:]}
	for len(d.buf) > 0 && d.err == nil {
		p := carriedPair{d.str(), ""}
		p.copyAddr = d.str()
		if d.err == nil {
			pairs = append(pairs, p)
		}
	}
	if d.err != nil {
		return nil, true
	}
	return pairs, len(pairs) == 0
}

// carriersOf calls f with each original other than self that carries
// the copy id of server (the 's' keys), until f returns false.
func (t *Tx) carriersOf(self ID, server, id string, f func(o ID) bool) {
	b := t.tx.Bucket(bucketCarried)
	if b == nil {
		return
	}
	prefix := carriedCopyPrefix(server, id)
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if rest := k[len(prefix):]; len(rest) == 8 && !bytes.Equal(rest, self.Key()) && !f(ID(beUint64(rest))) {
			return
		}
	}
}

// carriedAddrs adds to set the copy's addresses of server's copy id that
// originals other than self still carry; "" when one carries it whole.
func (t *Tx) carriedAddrs(self ID, server, id string, set copyNeeds) {
	b := t.tx.Bucket(bucketCarried)
	t.carriersOf(self, server, id, func(o ID) bool {
		pairs, whole := decodeCarried(b.Get(carriedByOriginal(o, server, id)))
		if whole {
			set[""] = true
		}
		for _, p := range pairs {
			set[p.copyAddr] = true
		}
		return true
	})
}

// dropCarried forgets that o carries the copy id of server (both keys,
// k its 'o' key) and writes the copy's discard unless another record
// still needs it (addDiscardFor); wrote reports whether it did.
func (t *Tx) dropCarried(k []byte, o ID, orgID, server, id string, now time.Time) (wrote bool, err error) {
	b := t.tx.Bucket(bucketCarried)
	if err := b.Delete(k); err != nil {
		return false, err
	}
	if err := b.Delete(carriedByCopy(server, id, o)); err != nil {
		return false, err
	}
	return t.addDiscardFor(o, orgID, server, id, now)
}

// settleCarriedRcpts settles, in the commit that writes original m, each
// recipient m carries a copy for and no longer has pending: a partial
// discard for it (unless another record here still needs it), and the
// entry's last one writes the copy's full discard (addDiscardFor).
func (t *Tx) settleCarriedRcpts(m *Message) error {
	b := t.tx.Bucket(bucketCarried)
	if b == nil {
		return nil
	}
	prefix := append([]byte{'o'}, m.ID.Key()...)
	type entry struct {
		k     []byte
		pairs []carriedPair
	}
	var es []entry
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if pairs, whole := decodeCarried(v); !whole {
			es = append(es, entry{bytes.Clone(k), pairs})
		}
	}
	if len(es) == 0 {
		return nil
	}
	now := t.now() // the manager's clock (takensingle.go)
	pending := map[string]bool{}
	for _, i := range m.Pending() {
		pending[m.Rcpts[i].Addr] = true
	}
	for _, e := range es {
		server, id, ok := bytes.Cut(e.k[len(prefix):], []byte{0})
		if !ok {
			continue
		}
		var left, done []carriedPair
		for _, p := range e.pairs {
			if pending[p.addr] {
				left = append(left, p)
			} else {
				done = append(done, p)
			}
		}
		if len(done) == 0 {
			continue
		}
		if len(left) > 0 {
			if err := b.Put(e.k, encodeCarried(left)); err != nil {
				return err
			}
		} else {
			wrote, err := t.dropCarried(e.k, m.ID, m.OrgID, string(server), string(id), now)
			if err != nil {
				return err
			}
			if wrote {
				continue // the full discard settles every recipient
			}
		}
		elsewhere, err := t.pendingUnderCopy(m.ID, m.OrgID, string(server), string(id))
		if err != nil {
			return err
		}
		var addrs []string
		for _, p := range done {
			if !elsewhere.needs(p.copyAddr) {
				addrs = append(addrs, p.copyAddr)
			}
		}
		if err := t.AddPartialDiscard(string(server), string(id), addrs, now); err != nil {
			return err
		}
	}
	return nil
}

// carriedElsewhere reports whether a record other than self carries the
// copy id of server (carryCopy).
func (t *Tx) carriedElsewhere(self ID, server, id string) bool {
	found := false
	t.carriersOf(self, server, id, func(ID) bool { found = true; return false })
	return found
}

// settleCarried forgets the copies original o (org id orgID) carried and
// writes each one's discard, unless another record still needs it: in
// the commit that removes or holds o.
func (t *Tx) settleCarried(o ID, orgID string, now time.Time) error {
	b := t.tx.Bucket(bucketCarried)
	if b == nil {
		return nil
	}
	prefix := append([]byte{'o'}, o.Key()...)
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		server, id, ok := bytes.Cut(k[len(prefix):], []byte{0})
		if !ok {
			if err := b.Delete(k); err != nil {
				return err
			}
			continue
		}
		if _, err := t.dropCarried(k, o, orgID, string(server), string(id), now); err != nil {
			return err
		}
	}
	return nil
}

// Recipients taken in from a copy without a carry (mergeHeld: a plain
// relay merged under releasesNoCopy, a takeover resubmission from the
// original's own shadow server, a give-back) are recorded too, in the
// same merge commit: key 'm' ‖ original id ‖ the original's address, no
// value, dropped when the original ends (Tx.Delete) and never at a hold:
// a hold settles the carried copies (settleCarried), and writes an 'm'
// key for each recipient they carried, which the original still owes
// once released (hold.go). Nothing is carried for them — no discard is owed —
// but a taken-over copy's note (takendone.go) must not settle them
// either: the copy merged may be the very message the note's holder
// handed on, relayed here by the hub it went to (that hub's discard is
// what the note reports), and the original is then its only copy left.
// With both kinds, the rule is one: a note never settles a recipient
// the original took in from any copy (carriedRcpts). A duplicate at
// worst. Crash: the key and the merge are one commit.

func mergedByOriginal(o ID, addr string) []byte {
	return append(append([]byte{'m'}, o.Key()...), addr...)
}

// noteMergedRcpt records, in the commit that merges a copy's recipient
// into original o's recipient addr with no carry, that o took it in.
func (t *Tx) noteMergedRcpt(o ID, addr string) error {
	b := t.tx.Bucket(bucketCarried)
	if b == nil || addr == "" {
		return nil
	}
	return b.Put(mergedByOriginal(o, addr), nil)
}

// dropMergedRcpts forgets the recipients o took in without a carry.
func (t *Tx) dropMergedRcpts(o ID) error {
	b := t.tx.Bucket(bucketCarried)
	if b == nil {
		return nil
	}
	prefix := append([]byte{'m'}, o.Key()...)
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// carriedRcpts is the set of o's addresses it took in from another
// server's copy ("" when a copy is carried whole), nil for none:
// recipients a copy handed here merged into, carried (which o still
// owes that copy's sender) or not (noteMergedRcpt) — never settled by a
// taken-over copy's note.
func (t *Tx) carriedRcpts(o ID) map[string]bool {
	b := t.tx.Bucket(bucketCarried)
	if b == nil {
		return nil
	}
	var out map[string]bool
	mp := append([]byte{'m'}, o.Key()...)
	mc := b.Cursor()
	for k, _ := mc.Seek(mp); k != nil && bytes.HasPrefix(k, mp); k, _ = mc.Next() {
		if out == nil {
			out = map[string]bool{}
		}
		out[string(k[len(mp):])] = true
	}
	prefix := append([]byte{'o'}, o.Key()...)
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if out == nil {
			out = map[string]bool{}
		}
		pairs, whole := decodeCarried(v)
		if whole {
			out[""] = true
		}
		for _, p := range pairs {
			out[p.addr] = true
		}
	}
	return out
}

// markMayRepeat marks, in the commit that merges a copy marked MayRepeat
// (orgid.RepeatHeader: handed on by the server that took it over from a
// primary, which may have written it into a shared store and died
// before its commit) into the originals of mr, each original MayRepeat:
// it delivers the merged recipients for the copy, and its results'
// commit keeps the copy it finds in the mailbox, as the copy's own
// delivery would have (TestMarkedCopyMergedIntoOriginalKeepsDumpsterCopy).
// Without it the copy was merged away, the original found the primary's
// file and kept nothing, and the primary, back, dropped its original as
// finished elsewhere: the message was in no dumpster. An original in
// delivery is marked on disk too; its attempt's commits keep the mark
// they find stored (Manager.finish, the jobs' commits). A spare copy at
// worst for a recipient the original had delivered itself.
func (t *Tx) markMayRepeat(mr []mergedRcpt) error {
	done := map[ID]bool{}
	for _, r := range mr {
		if done[r.into] {
			continue
		}
		done[r.into] = true
		o, err := t.Get(r.into)
		if err != nil || o.MayRepeat {
			continue
		}
		o.MayRepeat = true
		if err := t.Put(o); err != nil {
			return err
		}
	}
	return nil
}
