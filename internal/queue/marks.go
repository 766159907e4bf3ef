package queue

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	"umbra/internal/mailaddr"
)

// Rollback marks (version 7 of the shadow verbs). A transport database
// put back from a VM snapshot or a file copy keeps its database id, so
// SR-7 does not see that it lost the messages it acknowledged since the
// copy; its shadow servers would ask about their copies of those (an
// hour later, XQUERYHELD), hear "done" and drop them. So a primary keeps,
// per shadow server H (per H's transport database: below), a counter
// (bucket holdermarks) raised in every
// commit that stores a message naming H as the keeper of its copy
// (PutNew: a copy on receipt's commit, a message relayed here by H in a
// shadow session; RecopyPushing before a copy is made again). It only
// grows, so a database that presents less than H saw before is an older
// file of the same database.
//
// H learns the counter from the primary's own words, each read from the
// committed database when it is sent: the reply to "XSHADOW <H> MARK"
// (H's heartbeats, relays, watch and reconcile sessions), the first
// line of each XQUERYDISCARD reply in such a session,
// "XSHADOW <primary> MARK=<n> DB=<id>" of each session the primary opens
// to H to push copies on receipt, and each copy it pushes
// (XSHADOWMARK=: the value its own commit raised the counter to;
// Message.HolderMark). H keeps the highest per primary with the
// primary's database id (bucket primarymarks: raised in the commit that
// keeps the copies, SubmitShadowCopiesMarked); a primary of the same
// database id that presents less has been rolled back: every copy held
// for it is taken over as for a new database (SR-7), the stored mark
// starts again from what it presented, and the event is logged and
// counted (RolledBack). Only presentations are compared, never a copy's
// mark (copies of several sessions arrive in any order), and each with
// the mark stored before the primary read its counter for it
// (MarkFloor: read by this server before it sends the command whose
// reply presents one, or at the EHLO of a session the primary opens) —
// a copy of another session may raise the stored mark after the primary
// read the counter and before its reply is read here.
//
// Why a rolled-back primary is caught before it makes a copy on H again:
// every commit that raises H's counter comes after a presentation to H of
// the counter in the same process — a push on receipt after its
// session's XSHADOW, a relay from H after its XSHADOW reply, a copy made
// again after the XSHADOW of its push — so after a restart on the older
// file H hears the file's own counter first. It is below what H saw as
// soon as H stored one copy made after the file was copied, or heard the
// counter in a session after such a commit. What a mark cannot see: a
// rollback that lost only copies H never stored (their pushes failed)
// and relays from H answered after H's last query; a peer of version 6
// or below on either side (no marks: the behaviour of before, README).

// The counter is the holder's database's, not its name's (rt20c-F1): it
// is kept under the transport database id recorded for the server
// (bucket holders: ShadowHolderSeen), so every name this server may
// give one database — a topology's new spelling of it, a typo, a send
// connector's host name — presents one counter that only grows. Counted
// by name, a name met for the first time started from 0 and presented
// a lower mark to a database that had seen a higher one: a live
// primary read as rolled back, its copies taken over and delivered a
// second time. A server with no recorded id is counted under its name
// until one is recorded; the database's counter starts from the highest
// of the names' counters recorded with that id (a database written
// before counters were kept by id, or one id recorded under two names)
// and from the counter of the server's previous id (ShadowHolderSeen:
// a presentation made to the old database before its new id is read
// stays below nothing it saw). A name refused an id of its own because
// the id is recorded for another name (ShadowHolderSeen: the server
// spelt anew, a typo) is kept as an alias of that database (0x01 ‖
// name → id, committed with the refusal): its copies raise the
// database's counter, which starts from no less than the name's own, so
// a rollback to a file from before them presents less than the server
// saw (rt20c-F1 mend). The alias wins over an id recorded for the name
// itself (its address mistyped to reach another server: the copies are
// made there), and goes in the commit that finds the name presenting an
// id of its own again, the recorded one or a new one. A session
// presents the counter of the database its peer advertises
// (XSHADOWDB), whatever name it dials: package delivery, presentMark.

// holderMarkKey is the key of a shadow server's counter while no
// database id is recorded for it.
func holderMarkKey(server string) []byte { return []byte(serverKey(server)) } // holderfold.go

// holderDBMarkKey is the key of the counter of the shadow server whose
// database is dbID: a 0 byte first, which no server name holds.
func holderDBMarkKey(dbID string) []byte { return append([]byte{0}, dbID...) }

// holderAliasKey is the key of the database id of a server met under a
// name whose database id is recorded for another name (a topology that
// spells the server anew, a typo: ShadowHolderSeen refuses to record it
// in shadowholders): a 1 byte first, which no server name holds. The
// name's copies raise that database's counter.
func holderAliasKey(server string) []byte {
	return append([]byte{1}, serverKey(server)...)
}

// holderMarkTx returns the key of server's counter and its value, in tx:
// the counter of the database its name is an alias of, else of the
// database recorded for it, else its name's. The alias wins over the
// name's own recorded id: while the name dials another server's
// database (a typo in its address), its copies are made there.
func (t *Tx) holderMarkTx(server string) (key []byte, n uint64) {
	marks := t.tx.Bucket(bucketHolderMarks)
	if id := marks.Get(holderAliasKey(server)); len(id) > 0 {
		return t.holderDBMarkTx(string(id))
	}
	if hb := t.tx.Bucket(bucketHolders); hb != nil {
		if id := hb.Get(holderKey(server)); len(id) > 0 {
			return t.holderDBMarkTx(string(id))
		}
	}
	key = holderMarkKey(server)
	if v := marks.Get(key); len(v) == 8 {
		n = binary.BigEndian.Uint64(v)
	}
	return key, n
}

// holderDBMarkTx returns the key of the counter of database dbID and its
// value: while none is written, the highest of the counters of the names
// recorded with dbID.
func (t *Tx) holderDBMarkTx(dbID string) (key []byte, n uint64) {
	key = holderDBMarkKey(dbID)
	marks := t.tx.Bucket(bucketHolderMarks)
	if v := marks.Get(key); len(v) == 8 {
		return key, binary.BigEndian.Uint64(v)
	}
	hb := t.tx.Bucket(bucketHolders)
	if hb == nil {
		return key, 0
	}
	hb.ForEach(func(k, v []byte) error {
		if string(v) == dbID {
			if m := marks.Get(holderMarkKey(string(k))); len(m) == 8 {
				n = max(n, binary.BigEndian.Uint64(m))
			}
		}
		return nil
	})
	return key, n
}

// aliasHolderTx records server as another name of database dbID (whose
// id is recorded for another server name), in tx: its copies raise the
// database's counter from now on, which starts from no less than the
// name's own counter (copies counted under the name before) and than
// its own database's (the one recorded for it, or an earlier alias's):
// a copy committed under that counter and pushed in a session that
// meets dbID presents no more than dbID is presented after.
func (t *Tx) aliasHolderTx(server, dbID string) error {
	b := t.tx.Bucket(bucketHolderMarks)
	if b == nil {
		return nil
	}
	var own uint64
	if v := b.Get(holderMarkKey(server)); len(v) == 8 {
		own = binary.BigEndian.Uint64(v)
	}
	if k, n := t.holderMarkTx(server); string(k) != string(holderDBMarkKey(dbID)) {
		own = max(own, n)
	}
	if err := b.Put(holderAliasKey(server), []byte(dbID)); err != nil {
		return err
	}
	key, n := t.holderDBMarkTx(dbID)
	if b.Get(key) != nil && n >= own {
		return nil
	}
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], max(n, own))
	return b.Put(key, v[:])
}

// unaliasHolderTx forgets that server's name is an alias (the name
// presented ownID, an id of its own: recorded for it, or new), in tx:
// its copies raise ownID's counter again, which goes on from no less
// than the alias database's — a copy committed under that counter may
// be pushed in the very session that met ownID, and a mark above what
// ownID is presented after would read as a rollback there.
func (t *Tx) unaliasHolderTx(server, ownID string) error {
	b := t.tx.Bucket(bucketHolderMarks)
	if b == nil {
		return nil
	}
	alias := b.Get(holderAliasKey(server))
	if alias == nil {
		return nil
	}
	if err := t.carryHolderMarkTx(string(alias), ownID); err != nil {
		return err
	}
	return b.Delete(holderAliasKey(server))
}

// holderAliasTx returns the database id server's name is an alias of
// ("" when none).
func (t *Tx) holderAliasTx(server string) string {
	if b := t.tx.Bucket(bucketHolderMarks); b != nil {
		return string(b.Get(holderAliasKey(server)))
	}
	return ""
}

// carryHolderMarkTx starts the counter of server's new database newID
// from its old one's (ShadowHolderSeen, in the commit recording newID),
// so that the counter presented to the server never goes down.
func (t *Tx) carryHolderMarkTx(oldID, newID string) error {
	b := t.tx.Bucket(bucketHolderMarks)
	if b == nil || oldID == "" || newID == "" {
		return nil
	}
	_, was := t.holderDBMarkTx(oldID)
	key, n := t.holderDBMarkTx(newID)
	if b.Get(key) != nil && n >= was {
		return nil
	}
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], max(n, was))
	return b.Put(key, v[:])
}

// bumpHolderMark raises the counter of shadow server server by one and
// returns it.
func (t *Tx) bumpHolderMark(server string) (uint64, error) {
	b := t.tx.Bucket(bucketHolderMarks)
	if b == nil || server == "" { // absent in a database opened for a restore check
		return 0, nil
	}
	k, n := t.holderMarkTx(server)
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], n+1)
	if name := holderMarkKey(server); string(k) != string(name) {
		// The name's counter follows: a release that counts by name
		// (started on this file again) presents no less than was seen.
		// It never goes down (a name back on its own database after
		// an alias counts from that database's, which may be lower).
		if w := b.Get(name); len(w) != 8 || binary.BigEndian.Uint64(w) < n+1 {
			if err := b.Put(name, v[:]); err != nil {
				return 0, err
			}
		}
	}
	return n + 1, b.Put(k, v[:])
}

// ShadowHolderMark returns the counter of shadow server server (of the
// database recorded for it): the mark this server presents to it.
func (q *Manager) ShadowHolderMark(server string) uint64 {
	var n uint64
	_ = q.store.View(func(tx *Tx) error {
		if tx.tx.Bucket(bucketHolderMarks) != nil {
			_, n = tx.holderMarkTx(server)
		}
		return nil
	})
	return n
}

// SubmitShadowCopiesMarked is SubmitShadowCopies for copies whose
// primary presented its rollback mark with them (XSHADOWMARK=: the mark
// its commit of the copy, or of the last of a batch, raised): the same
// commit raises the highest mark seen for the primary's database to it.
func (q *Manager) SubmitShadowCopiesMarked(ctx context.Context, copies []ShadowCopy, primary, addr, dbID string, mark uint64) ([]CopyResult, error) {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	return q.submitShadowCopies(ctx, copies, primary, addr, dbID, mark)
}

// primaryMarkKey is the one key of a primary's marks, whatever the
// spelling it is named by (shadow31 S4): the name its push sessions
// state (its server.name as written) and the topology's spelling (this
// server's heartbeats, watch and relays) differ in letter case, a final
// dot or the form of an internationalised label, and kept under each
// spelling the marks split — the floor read under one spelling was none,
// and a rolled-back primary presenting under it was not caught.
// mailaddr.NameKey, as the topology and the shadow view fold names.
func primaryMarkKey(primary string) []byte { return []byte(mailaddr.NameKey(primary)) }

// primaryMark reads the highest mark proved for primary and the
// database id it is of: every record whose key folds to its key
// (primaryMarkKey) counts — its key's own and those a release before
// kept under other spellings (foldMarks) — until the first write under
// the key removes the others (putPrimaryMark).
func (t *Tx) primaryMark(primary string) (mark uint64, dbID string) {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	b := t.tx.Bucket(bucketPrimaryMarks)
	if b == nil {
		return 0, ""
	}
	key := primaryMarkKey(primary)
	var recs []markRecord
	_ = b.ForEach(func(k, v []byte) error {
		if len(v) >= 8 && bytes.Equal(primaryMarkKey(string(k)), key) {
			recs = append(recs, markRecord{own: bytes.Equal(k, key), mark: binary.BigEndian.Uint64(v[:8]), db: string(v[8:])})
		}
		return nil
	})
	f := t.foldMarks(string(key), recs)
	return f.Mark, f.DB
}

// markRecord is one record of bucket primarymarks: own when it is under
// the primary's key (primaryMarkKey), not a spelling a release before
// kept.
type markRecord struct {
	own  bool
	mark uint64
	db   string
}

// foldMarks is the floor of the primary whose key is key from the
// records kept for it under every spelling (shadow31 S4: a release
// before kept one per spelling presented — its push sessions' name as
// written, the topology's — and the key's own may be one of them, not
// the highest). The highest mark per database id counts; of several
// database ids, the one stored for the primary (its peer record: the
// database it runs now), else the key's own record's, else the highest
// mark's. One spelling's mark alone was a floor below what this server
// saw: a primary put back between the two was not caught.
func (t *Tx) foldMarks(key string, recs []markRecord) MarkFloor {
	best := map[string]uint64{}
	var f MarkFloor
	for _, r := range recs {
		if m, had := best[r.db]; !had || r.mark > m {
			best[r.db] = r.mark
		}
		if r.own {
			f.DB = r.db
		}
	}
	switch {
	case len(best) == 0:
		return MarkFloor{}
	case len(best) == 1:
		for db, m := range best {
			return MarkFloor{Mark: m, DB: db}
		}
	}
	if p, err := t.Peer(t.peerSpelling(key, "")); err == nil && p != nil {
		if m, had := best[p.DatabaseID]; had && p.DatabaseID != "" {
			return MarkFloor{Mark: m, DB: p.DatabaseID}
		}
	}
	if m, had := best[f.DB]; had && f.DB != "" {
		f.Mark = m
		return f
	}
	f = MarkFloor{}
	for db, m := range best {
		if m > f.Mark || (m == f.Mark && db > f.DB) {
			f = MarkFloor{Mark: m, DB: db}
		}
	}
	return f
}

// putPrimaryMark writes primary's mark under its key, and removes the
// records a release before kept under other spellings of it.
func (t *Tx) putPrimaryMark(primary, dbID string, mark uint64) error {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	b := t.tx.Bucket(bucketPrimaryMarks)
	if b == nil {
		return nil
	}
	key := primaryMarkKey(primary)
	var old [][]byte
	_ = b.ForEach(func(k, _ []byte) error {
		if !bytes.Equal(k, key) && bytes.Equal(primaryMarkKey(string(k)), key) {
			old = append(old, bytes.Clone(k))
		}
		return nil
	})
	for _, k := range old {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	v := make([]byte, 8, 8+len(dbID))
	binary.BigEndian.PutUint64(v, mark)
	return b.Put(key, append(v, dbID...))
}

// peerSpelling is the name primary's record is stored under: its
// folded name, the one spelling every holder-side record of a primary
// is kept under (primaryfold.go). dbID is not read: there is one record.
func (t *Tx) peerSpelling(primary, _ string) string {
	return serverKey(primary)
}

// checkMarkTx compares the mark primary presents (database dbID) with
// floor, in tx: rolledBack when it is less for the same database id. The
// caller takes the copies over then. The stored mark becomes the
// presented one for a rolled-back or new database, the higher of the two
// otherwise.
func (t *Tx) checkMarkTx(primary, dbID string, mark uint64, floor MarkFloor) (rolledBack bool, seen uint64, err error) {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	if dbID == "" {
		return false, 0, nil
	}
	seen, was := t.primaryMark(primary)
	switch {
	case was == dbID && floor.DB == dbID && mark < floor.Mark:
		rolledBack, seen = true, floor.Mark
	case was == dbID:
		mark = max(mark, seen)
	}
	return rolledBack, seen, t.putPrimaryMark(primary, dbID, mark)
}

// rollbackReason is the takeover reason of a rolled-back primary.
func rollbackReason(mark, seen uint64) string {
	return fmt.Sprintf("its transport database was rolled back (an older copy of the same database: mark %d, %d seen before)", mark, seen)
}

// MarkFloor is the highest mark stored for a primary, with the database
// id it is of, read before the command whose reply (or before the
// session whose XSHADOW) presents a mark: a presentation is compared
// with what was known before the primary read its counter, never with
// a mark a concurrent copy brought meanwhile (the primary may have read
// the counter for this reply before that copy's commit: a lower value,
// and no rollback).
type MarkFloor struct {
	Mark uint64
	DB   string
}

// ShadowMarkFloor returns primary's floor (MarkFloor) now.
func (q *Manager) ShadowMarkFloor(primary string) MarkFloor {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	var f MarkFloor
	_ = q.store.View(func(tx *Tx) error {
		f.Mark, f.DB = tx.primaryMark(primary)
		return nil
	})
	return f
}

// ShadowMarkFloors returns every primary's floor now (a session that may
// become a primary's push session reads them before that primary reads
// its counter: at its EHLO), by the primary's key (mailaddr.NameKey: the
// caller looks its session's name up so). Each is ShadowMarkFloor's:
// the records of every spelling folded (foldMarks).
func (q *Manager) ShadowMarkFloors() map[string]MarkFloor {
	out := map[string]MarkFloor{}
	_ = q.store.View(func(tx *Tx) error {
		b := tx.tx.Bucket(bucketPrimaryMarks)
		if b == nil {
			return nil
		}
		byKey := map[string][]markRecord{}
		_ = b.ForEach(func(k, v []byte) error {
			if len(v) < 8 {
				return nil
			}
			key := string(primaryMarkKey(string(k)))
			byKey[key] = append(byKey[key], markRecord{own: string(k) == key, mark: binary.BigEndian.Uint64(v[:8]), db: string(v[8:])})
			return nil
		})
		for key, recs := range byKey {
			out[key] = tx.foldMarks(key, recs)
		}
		return nil
	})
	return out
}

// ShadowMarkSeen records the mark primary presented (database dbID): in
// a session this server opened to it (the XSHADOW reply, an
// XQUERYDISCARD reply), or in the XSHADOW of its push session. When it is
// less than floor — the highest mark stored for the same database before
// the primary read its counter (MarkFloor) — the primary was rolled back:
// every copy held for it is taken over in the same commit (as for a new
// database, SR-7), the stored mark becomes the presented one, and the
// count is returned. Otherwise the stored mark is raised to it.
func (q *Manager) ShadowMarkSeen(primary, dbID string, mark uint64, floor MarkFloor) (rolledBack bool, taken int, err error) {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	if primary == "" || dbID == "" {
		return false, 0, nil
	}
	if !q.markNeedsWrite(primary, dbID, mark, floor) {
		return false, 0, nil
	}
	var seen uint64
	var list []*Message
	marked := 0 // copies in delivery marked for the takeover
	stored := primary
	// The records this primary's presentation speaks for besides its
	// own (ShadowPrimaryPresentedHere gives their copies back too).
	also, err := q.primariesOf(primary, dbID)
	if err != nil {
		return false, 0, err
	}
	now := q.clk.Now()
	err = q.store.Update(context.Background(), func(tx *Tx) error {
		rolledBack, list, marked = false, nil, 0
		stored = tx.peerSpelling(primary, dbID) // its copies' spelling: the takeover finds them
		primary := stored
		p, err := tx.Peer(primary)
		if err != nil {
			return err
		}
		if p != nil && p.DatabaseID != "" && p.DatabaseID != dbID {
			return nil // a new database: the contact takes the copies over (SR-7)
		}
		if rolledBack, seen, err = tx.checkMarkTx(primary, dbID, mark, floor); err != nil || !rolledBack {
			return err
		}
		if list, marked, err = tx.takeoverTx(primary, rollbackReason(mark, seen), now); err != nil {
			return err
		}
		// Its copies are counted from mark again: a discard kept aside
		// under a higher mark of this database would take a copy made
		// after the rollback for the one it was for (staleearly.go).
		if err := tx.forgetEarlyAboveTx(primary, dbID, mark); err != nil {
			return err
		}
		// The copies taken over before (failed heartbeats) stay taken
		// over: the same id, rolled back behind them, does not get them
		// back (takenindex.go keepTakenOverTx) — those of every record
		// its presentation gives back to (primariesOf: a send
		// connector's host name that reaches it) too.
		for _, name := range append([]string{primary}, also...) {
			if _, err = tx.keepTakenOverTx(name, dbID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || !rolledBack {
		return false, 0, err
	}
	q.rolledBack.Add(1)
	q.rollbackNotes.Store(serverKey(stored), RollbackNote{Mark: mark, Seen: seen, At: now})
	if len(list)+marked == 0 {
		// No copy held for it: no takeover to alert on (shadowout48 F2).
		q.log.Info("primary presented its transport database rolled back; nothing was taken over: no shadow copy was held for it",
			"primary", serverKey(stored), "database_id", dbID, "mark", mark, "seen", seen)
	} else {
		q.logTakeover(stored, len(list)+marked, "its transport database was rolled back (an older copy of the same database)",
			"database_id", dbID, "mark", mark, "seen", seen)
	}
	// Its messages' takeover events say the rollback: the database id
	// is the one they were made against, not a new one.
	q.afterTakeoverWhy(stored, stored+": transport database rolled back", list)
	return true, len(list) + marked, nil
}

// markNeedsWrite reports whether ShadowMarkSeen would change anything
// stored: a rollback, a mark above the one kept for the same database
// id, or a mark of a database id not kept yet. A commit of no change
// still pays the store's two fdatasyncs, and a shadow server hears a
// presentation in every push session and every discard reply; the
// Update re-checks all of it, so a change made between the two only
// ever adds a write.
func (q *Manager) markNeedsWrite(primary, dbID string, mark uint64, floor MarkFloor) bool {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	need := true
	_ = q.store.View(func(tx *Tx) error {
		p, err := tx.Peer(tx.peerSpelling(primary, dbID))
		if err != nil {
			return nil
		}
		if p != nil && p.DatabaseID != "" && p.DatabaseID != dbID {
			need = false // the contact's to handle (SR-7), as in the Update
			return nil
		}
		seen, was := tx.primaryMark(primary)
		rollback := was == dbID && floor.DB == dbID && mark < floor.Mark
		need = rollback || was != dbID || mark > seen
		return nil
	})
	return need
}

// RolledBack counts the rolled-back primaries this server found (a
// presented mark below one proved for the same database id).
func (q *Manager) RolledBack() uint64 { return q.rolledBack.Load() }
