package queue

import (
	"bytes"
	"slices"
)

// Copies a holder took over from the database a restored one replaced
// (rt37 restore F1).
//
// `umbra db restore` gives the database a new id (SR-7), so that the
// servers keeping copies of this server's messages take over the mail
// acknowledged after the backup. They cannot tell which of their copies
// the backup holds: every copy held for this server is taken over at its
// first contact under the new id (takenindex.go: under the old id, never
// given back). The restored database holds the backup's originals of the
// older ones, and delivered them too: every message queued at the backup
// reached its destination twice, once from each side.
//
// A restored database keeps the id it was restored from (keyRestoredFrom,
// written in the commit of its first start: Store.Predecessor), and asks
// each holder (shadow verbs version 22, "XQUERYTAKENDONE <max> HELD BUSY
// FROM=<old id>"; package smtp, delivery's holders probe — before its
// first delivery, then every heartbeat timeout) about the copies it took
// over from that database too: the holder lists the notes kept under the
// old id (what it finished: takendone.go), the copies under it in
// delivery there (BUSY: takenbusy.go) and, for each copy taken over from
// this primary under the old id that is waiting there (TakenOverFor), a
// line per pending recipient "<id> RCPT=<address> TAKEN": the holder owns
// it and delivers it. The primary marks each such recipient of its record
// under that copy done without a DSN (ShadowFinishedElsewhere, as a
// recipient the holder relayed), in one commit before its next command:
// the message goes out once, from the holder. A line is told at most
// once per session and nothing is forgotten: asked again, the holder
// lists what still waits, and the primary finds nothing pending.
//
// Why it is sound: the holder's copy was taken over under the old id, and
// nothing the new database says settles it (takenUnderOther: neither a
// discard nor an answer of the new database); it is never given back (the
// old id is never presented again), so the holder delivers or fails it
// with its DSN whatever becomes of the original here. The primary acts
// only on the holder's word that it holds the copy — a holder that does
// not answer, or has no copy (the old database finished the message after
// the backup, and its discard reached the holder), leaves the original to
// be delivered here as before (README: delivered again after a restore).
// A recipient the original carries for another server's copy merged into
// it is never settled by a line (carried.go, as for every note). A copy
// the holder routes back here later (an edge whose route leads to this
// hub) comes as a new relay: its recipients are no longer pending here,
// so it is not merged, and it is delivered once.
//
// Crash: the primary's commit comes before its next command; the holder
// keeps nothing for the lines. Either way, a crash leaves the question
// to be asked again.

// TakenOver is the wire word of a recipient of a copy a holder took over
// from the database the asking primary's was restored from ("TAKEN"), or
// took over from the asking primary's own database and handed on to
// another transport server that still holds it (TakenHandedFor,
// takenhanded.go): either way the holder's side delivers it.
const TakenOver = 'T'

// Predecessor is the transport database id the backup restored into this
// database was taken of ("" for a database never restored): kept from
// the first start after the restore on.
func (s *Store) Predecessor() string { return s.predecessor }

// Predecessor is the transport database id this database was restored
// from ("" none): Store.Predecessor.
func (q *Manager) Predecessor() string { return q.store.Predecessor() }

// TakenOverFor lists up to max recipients ("<id> RCPT=<address> TAKEN")
// of the copies taken over here from primary (the server a session is
// authenticated as, and the records it speaks for: primariesOf) under
// its database from that wait here (pending, not in delivery: those are
// BUSY, TakenBusyFor). The session presented database presented: a
// record of primary's still stored with from is taken over first, in
// the commit SR-7's takeover makes at this server's next session to it
// (ShadowPresented: the primary names from as the database its own was
// restored from, and presents another), so that the restored primary
// hears of every copy before its first delivery.
func (q *Manager) TakenOverFor(primary, presented, from string, max int) []TakenDone {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	if primary == "" || from == "" || max <= 0 {
		return nil
	}
	// Its own record, and those kept under a send connector's host name
	// that reach it, confirmed by one of the two database ids the
	// session speaks for (primariesOf: the address alone names no one).
	var names []string
	for _, db := range []string{"", from, presented} {
		more, err := q.primariesOf(primary, db)
		if err != nil {
			q.log.Error("finding the copies taken over from a restored primary's old database failed", "primary", primary, "err", err)
			return nil
		}
		for _, n := range more {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	if presented != "" && presented != from {
		for _, name := range names {
			var stored string
			_ = q.store.View(func(tx *Tx) error { stored = tx.peerDatabase(name); return nil })
			if stored != from {
				continue
			}
			res, err := q.ShadowPresented(name, presented, nil)
			if err != nil {
				q.log.Error("taking over the copies of a primary restored from a backup failed", "primary", name, "err", err)
			} else if res.OldDatabaseID != "" {
				q.logTakeover(name, res.TakenOver, "it returned with a new transport database (restored from a backup of the one its copies were made against)",
					"database_id", presented, "was", res.OldDatabaseID)
			}
		}
	}
	var out []TakenDone
	_ = q.store.View(func(tx *Tx) error {
		b := tx.tx.Bucket(bucketTakenBy)
		if b == nil {
			return nil
		}
		for _, name := range names {
			name = serverKey(name)
			prefix := append([]byte(name), 0)
			c := b.Cursor()
			for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(out) < max; k, v = c.Next() {
				if len(k) != len(prefix)+8 {
					continue
				}
				e := decodeTaken(v)
				under := func(v string) string { u, _ := parseTaken(v); return u }
				if !slices.ContainsFunc(e.values(), func(v string) bool { return under(v) == from }) {
					continue
				}
				m, err := tx.Get(ID(beUint64(k[len(prefix):])))
				if err != nil || m.State == Active {
					continue
				}
				for j := range m.Rcpts {
					r := &m.Rcpts[j]
					// Each copy under its own database (takenEntry).
					if takenOverRcpt(r) && serverKey(r.Primary) == name && under(e.of(r.ShadowID)) == from && len(out) < max {
						out = append(out, TakenDone{ID: r.ShadowID, Addr: r.Addr, Kind: TakenOver})
					}
				}
			}
		}
		return nil
	})
	return out
}
