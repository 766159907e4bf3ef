package queue

import (
	"context"

	"umbra/internal/mailaddr"
)

// Where this server (a primary) last reached each shadow server of its
// messages (bucket holderaddrs, schema.go; rt31a F2).
//
// The discard notifications owed to a shadow server are fetched by its
// own queries, or pushed by this server (package delivery: at a stop, and
// to a holder whose sessions are refused here) at the address the
// topology gives it. A server removed from the topology by a reload or a
// restart while it holds copies of messages here has no such address
// any more, and its own sessions are refused (no transport server of the
// topology): the discards owed to it reached it never, and when this
// server died it took the copies over — messages delivered here long
// before went out a second time. So the address a copy was made at is
// kept:
//
//	holderaddrs  mailaddr.NameKey(server name) → its address (host:port) as dialled
//
// written by the first session to that server at an address not
// recorded yet (a commit of its own per change, not per session or copy)
// and by the holders' pass for a server owed discards (its address in the
// topology then, so a holder that relayed here is found too), and deleted
// once the server is no longer in the topology and nothing is owed to it
// nor held on it (package delivery, formerholders.go). Crash: a write
// whose commit did not return is not recorded; the next session to that
// server, or the next pass, records it again — the record is no
// message's state. A release without it does not open the bucket: a
// holder removed from its topology gets no pushed discard there, as
// before.

// HolderAddress is the address shadow server name was last reached at
// here ("" when none is recorded).
func (q *Manager) HolderAddress(name string) (string, error) {
	var addr string
	err := q.store.View(func(tx *Tx) error {
		if b := tx.tx.Bucket(bucketHolderAddrs); b != nil {
			addr = string(b.Get([]byte(mailaddr.NameKey(name))))
		}
		return nil
	})
	return addr, err
}

// NoteHolderAddress records addr as the address shadow server name was
// reached at, in a commit of its own that returns once durable; nothing
// is written when the record says so already. An empty addr deletes the
// record.
func (q *Manager) NoteHolderAddress(name, addr string) error {
	key := []byte(mailaddr.NameKey(name))
	if cur, err := q.HolderAddress(name); err != nil || cur == addr {
		return err
	}
	return q.store.Update(context.Background(), func(tx *Tx) error {
		b := tx.tx.Bucket(bucketHolderAddrs)
		if b == nil {
			if addr == "" {
				return nil
			}
			var err error
			if b, err = tx.tx.CreateBucket(bucketHolderAddrs); err != nil {
				return err
			}
		}
		if addr == "" {
			return b.Delete(key)
		}
		return b.Put(key, []byte(addr))
	})
}

// HolderAddresses lists every recorded shadow server (NameKey) with its
// address.
func (q *Manager) HolderAddresses() (map[string]string, error) {
	out := map[string]string{}
	err := q.store.View(func(tx *Tx) error {
		b := tx.tx.Bucket(bucketHolderAddrs)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			out[string(k)] = string(v)
			return nil
		})
	})
	return out, err
}
