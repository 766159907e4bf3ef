package queue

import (
	"bytes"
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
// What stays open: the carried copy is settled whole at the original's
// end, not recipient by recipient (no partial discards for it), and a
// crash of this server past the sender's takeover delay still has the
// sender take it over (a duplicate, never a loss).

func carriedByOriginal(o ID, server, id string) []byte {
	return append(append(append(append([]byte{'o'}, o.Key()...), server...), 0), id...)
}

func carriedByCopy(server, id string, o ID) []byte {
	return append(append(append(append(append([]byte{'s'}, server...), 0), id...), 0), o.Key()...)
}

// carryCopy records, in the commit that merges a copy into original o,
// that o carries the copy id of server.
func (t *Tx) carryCopy(o ID, server, id string) error {
	b := t.tx.Bucket(bucketCarried)
	if b == nil || server == "" || id == "" {
		return nil
	}
	if err := b.Put(carriedByOriginal(o, server, id), nil); err != nil {
		return err
	}
	return b.Put(carriedByCopy(server, id, o), nil)
}

// carriedElsewhere reports whether a record other than self carries the
// copy id of server (carryCopy).
func (t *Tx) carriedElsewhere(self ID, server, id string) bool {
	b := t.tx.Bucket(bucketCarried)
	if b == nil {
		return false
	}
	prefix := append(append(append(append([]byte{'s'}, server...), 0), id...), 0)
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if rest := k[len(prefix):]; len(rest) == 8 && !bytes.Equal(rest, self.Key()) {
			return true
		}
	}
	return false
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
		if err := b.Delete(k); err != nil {
			return err
		}
		if !ok {
			continue
		}
		if err := b.Delete(carriedByCopy(string(server), string(id), o)); err != nil {
			return err
		}
		if _, err := t.addDiscardFor(o, orgID, string(server), string(id), now); err != nil {
			return err
		}
	}
	return nil
}
