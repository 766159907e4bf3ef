package queue

import (
	"bytes"
	"encoding/binary"
	"time"
)

// Notes of a holder kept for a record in delivery (bucket takendonewait,
// schema.go):
//
//	takendonewait lower-cased holder ‖ 0x00 ‖ shadow id ‖ 0x00 ‖ rcptKey(address)
//	              (empty for a delay note, 0x00 for a held note) → at (8, BE) ‖ kind ‖ address
//
// The returning primary applies what a holder finished of the copies it
// took over (ShadowFinishedElsewhere) in one commit before its next
// command, and the holder forgets every note of the batch once the
// primary speaks again (SR-15). A record a note names that is in
// delivery here is its attempt's to write (one writer): its notes cannot
// be applied now. They used to be left with the holder by ending the
// session without a command — and with them every later note: the
// holder tells the same first batch (up to 500) at every probe, so one
// message in delivery (a destination that hangs, a long transfer)
// stopped every note past it. Now the notes of such a record are kept
// here, in the commit that applies the others, and the session goes on
// (the holder forgets them: this server has them); each later
// ShadowFinishedElsewhere for that holder — at least the next probe of
// it (askTakenDone), every heartbeat timeout — applies them first, and
// keeps again those whose record is still in delivery. So a record in
// delivery delays only its own notes.
//
// Crash: the kept notes are in the commit that applies the rest, which
// precedes the command that lets the holder forget them: either the
// holder still has them (told again; applied twice changes nothing) or
// this server does. Kept notes of a record that is gone by then change
// nothing and go; those of a holder never probed again go with their
// lifetime, as the holder's own notes (pruneTakenDone). An earlier
// release does not read the bucket: the record's recipients are then
// attempted here (what that release did with a note it was not told).

// takenDoneWaitKey is the key of note n of holder server.
func takenDoneWaitKey(server string, n TakenDone) []byte {
	server = serverKey(server) // holderfold.go
	if n.Kind == TakenHeld {
		return takenHeldKey(server, n.ID)
	}
	return takenDoneKey(server, n.ID, n.Addr)
}

// takenDoneWaiting reports whether notes of holder server are kept for
// a record that was in delivery: a probe that was told nothing new
// still applies them.
func (q *Manager) takenDoneWaiting(server string) bool {
	found := false
	_ = q.store.View(func(tx *Tx) error {
		b := tx.tx.Bucket(bucketTakenDoneWait)
		if b == nil {
			return nil
		}
		prefix := append([]byte(serverKey(server)), 0)
		k, _ := b.Cursor().Seek(prefix)
		found = k != nil && bytes.HasPrefix(k, prefix)
		return nil
	})
	return found
}

// takenDoneWaitingTx returns the notes of holder server kept for a
// record that was in delivery, and deletes them: the caller keeps again
// those still waiting (keepTakenDoneWaiting).
func (t *Tx) takenDoneWaitingTx(server string) ([]TakenDone, error) {
	b := t.tx.Bucket(bucketTakenDoneWait)
	if b == nil {
		return nil, nil
	}
	prefix := append([]byte(serverKey(server)), 0)
	var notes []TakenDone
	var keys [][]byte
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		keys = append(keys, bytes.Clone(k))
		id, _, ok := bytes.Cut(k[len(prefix):], []byte{0})
		if !ok || len(v) < 9 {
			continue
		}
		notes = append(notes, TakenDone{ID: string(id), Addr: string(v[9:]), Kind: v[8]})
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return nil, err
		}
	}
	return notes, nil
}

// keepTakenDoneWaiting keeps the notes of the copy ids in busy (those
// naming a record in delivery) for the next ShadowFinishedElsewhere of
// holder server, in its commit.
func (t *Tx) keepTakenDoneWaiting(server string, ids []string, byID map[string][]TakenDone, busy map[string]bool, now time.Time) error {
	b := t.tx.Bucket(bucketTakenDoneWait)
	if b == nil || len(busy) == 0 {
		return nil
	}
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], uint64(nanos(now)))
	for _, id := range ids {
		if !busy[id] {
			continue
		}
		for _, n := range byID[id] {
			v := takenDoneValue(ts[:], n.Kind, n.Addr)
			if err := b.Put(takenDoneWaitKey(server, n), v); err != nil {
				return err
			}
		}
	}
	return nil
}
