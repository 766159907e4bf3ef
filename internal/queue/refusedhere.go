package queue

import (
	"context"
	"encoding/binary"
	"time"

	"umbra/internal/mailaddr"
)

// Whose shadow sessions this server's receive side refuses (bucket
// refusedhere, schema.go; shadow29 item 2).
//
// A shadow server whose shadow sessions this server refused (package
// smtp SessionNoter: its address is not one the topology gives it, its
// certificate or account does not match, any refusal) gets no copy on
// receipt from here until one of its sessions is let in: a copy there
// could never be discarded (package delivery, refusedSinceLetIn). The
// record was memory only, so after a restart the first copies went to
// such a server until its first session here was refused again. It is
// kept here, one key per server id as its sessions state it:
//
//	refusedhere  mailaddr.NameKey(server id) → at (8, BE): the refusal that began it
//
// written by the refusal that finds none (a commit of its own, once per
// refusal state, not per session) and deleted by the first session let
// in, or when the server is no longer in the topology (package delivery
// pruneRemoved: at the start and at the reload that removes it). Crash: a refusal or let-in whose commit did not return is not
// recorded; the next session of that server records it again — the
// record is what this server saw of its sessions, never a message's
// state, so no message depends on it. A release without it does not
// open the bucket: its records wait unread (copies may go to such a
// server until its first session is refused, as before), and ones it
// should have ended (a session let in meanwhile) end at that server's
// next session let in here on this release.

// SessionsRefusedHere lists the server ids (NameKey) whose shadow
// sessions were refused here since the last one let in, each with the
// time of the refusal that began it (zero when the record holds none).
func (q *Manager) SessionsRefusedHere() (map[string]time.Time, error) {
	out := map[string]time.Time{}
	err := q.store.View(func(tx *Tx) error {
		b := tx.tx.Bucket(bucketRefusedHere)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var at time.Time
			if len(v) == 8 {
				at = time.Unix(0, int64(binary.BigEndian.Uint64(v)))
			}
			out[string(k)] = at
			return nil
		})
	})
	return out, err
}

// NoteSessionsRefusedHere records that the shadow sessions of server id
// name are refused here (refused) or that one was let in (not refused),
// in one commit that returns once durable; nothing is written when the
// record already says so.
func (q *Manager) NoteSessionsRefusedHere(name string, refused bool) error {
	key := []byte(mailaddr.NameKey(name))
	now := q.clk.Now()
	return q.store.Update(context.Background(), func(tx *Tx) error {
		b := tx.tx.Bucket(bucketRefusedHere)
		if b == nil {
			if !refused {
				return nil
			}
			var err error
			if b, err = tx.tx.CreateBucket(bucketRefusedHere); err != nil {
				return err
			}
		}
		switch has := b.Get(key) != nil; {
		case refused && !has:
			var at [8]byte
			binary.BigEndian.PutUint64(at[:], uint64(nanos(now)))
			return b.Put(key, at[:])
		case !refused && has:
			return b.Delete(key)
		}
		return nil
	})
}
