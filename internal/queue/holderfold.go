package queue

import (
	"bytes"
	"encoding/binary"
	"slices"
	"sort"
	"strings"

	bolt "go.etcd.io/bbolt"

	"umbra/internal/mailaddr"
)

// Holder names folded one way. A shadow server of this server's
// messages is one server whatever spelling names it: the topology's, the
// name it states at XSHADOW, a record's Message.ShadowServer — in letter
// case, with or without a final dot, its internationalised labels as
// U-labels or A-labels. Every record kept per holder is keyed by
// mailaddr.NameKey of its name (serverKey), the key the topology and the
// shadow view fold server names by: its database id (shadowholders), the
// name it stated (holderstated), its rollback counter and alias
// (holdermarks), the notifications owed to it (discards,
// partialdiscards, handback), its taken-done notes kept aside
// (takendonewait), the copies it holds that an original here carries
// (carriedcopies, foldCarried); and, by the primary's name, the discards a primary
// sent early (early) and the copies an operator dropped here that are
// owed to their primary (dropped). Names are compared so too (sameServer). Keyed by lower
// case only, a holder stating its name with a final dot, or in the
// other IDN form, was a second holder: its database id refused as
// another server's, its counter started from 0 (a live primary read as
// rolled back there), and the notifications filed under one spelling
// never reached a session asking as the other.

// serverKey is the key of a server name in every record kept per server
// here (mailaddr.NameKey).
func serverKey(name string) string { return mailaddr.NameKey(name) }

// sameServer reports whether a and b name one server (serverKey).
func sameServer(a, b string) bool {
	return a == b || serverKey(a) == serverKey(b)
}

// foldHolderNames rewrites at open, in Open's one transaction, the
// records a release before kept under a lower-cased spelling of a holder
// (or, in early, of a primary) under serverKey, merging those of one
// server by what each means:
//
//   - shadowholders (the database id last met): the record under the key
//     itself, else the first spelling's in key order. A kept id that is
//     not the one the holder runs now is found at its next session (the
//     id presented is another): its copies are made again — the side
//     that loses nothing. Every id stays the server's (peerdbs).
//   - holderstated: the record under the key itself, else the first;
//     the stated name folded too.
//   - holdermarks: a name's counter is the highest of its spellings'
//     (it only grows); of several aliases the one under the key itself,
//     else the first, and the counter of the database it names is raised
//     to no less than the name's and than the other aliases' databases':
//     a counter raised presents no rollback (never below what it was
//     read as: while it has none of its own, the highest of the names
//     recorded with it). An alias spelling whose folded name has an id
//     of its own, another — its own spelling's or, folded onto it,
//     another spelling's — does not stay the name's: the notifications
//     filed under the spelling go to the server of the alias's
//     database (foldAliasOfOwned), as does an alias spelling of a name
//     with no id of its own whose database is another than the alias
//     kept for the name. An alias whose database was recorded under a
//     spelling of its own name that the fold of shadowholders did not
//     keep is the name's own server's: it goes, and what was filed
//     under it stays the name's. Both tests, and the server recorded
//     with the alias's database, read the ids of every spelling as
//     recorded before that fold (preFold).
//   - discards, partialdiscards, early, takendonewait, dropped: every entry kept
//     (their union); of two entries of one key, the later stamp (the
//     first 8 bytes) — a notification owed anew is the one not sent.
//   - handback: every entry; of two of one key, the one under the key.
//   - carriedcopies: every entry; of two 'o' entries of one original and
//     copy, one carrying the recipients of both (whole if either is).
//
// One transaction: a crash midway leaves the file as it was, and the
// next open folds again. Folded keys fold to themselves, so every open
// after the first writes nothing.
func foldHolderNames(btx *bolt.Tx) error {
	// The names whose database id is recorded under the folded key
	// itself, before the fold (foldHolderMarks).
	ownKey := map[string]bool{}
	// The database ids recorded under every spelling, before the fold
	// keeps one per name: a spelling's id that lost is still a database
	// of that name's server (foldHolderMarks).
	pre := &preFold{ids: map[string][]string{}, names: map[string][]string{}}
	if hb := btx.Bucket(bucketHolders); hb != nil {
		_ = hb.ForEach(func(k, v []byte) error {
			name := string(holderKey(string(k)))
			if name == string(k) {
				ownKey[string(k)] = true
			}
			if len(v) > 0 {
				pre.ids[name] = append(pre.ids[name], string(v))
				pre.names[string(v)] = append(pre.names[string(v)], name)
			}
			return nil
		})
	}
	if err := foldKeyed(btx, bucketHolders, false, nil); err != nil {
		return err
	}
	if err := foldKeyed(btx, bucketHolderStated, false, func(v []byte) []byte {
		if len(v) == 0 {
			return v
		}
		return []byte(serverKey(string(v)))
	}); err != nil {
		return err
	}
	if err := foldHolderMarks(btx, ownKey, pre); err != nil {
		return err
	}
	for _, name := range [][]byte{bucketDiscards, bucketPartial, bucketEarly, bucketTakenDoneWait, bucketDropped} {
		if err := foldKeyed(btx, name, true, nil); err != nil {
			return err
		}
	}
	// After foldHolderMarks, as the notifications: an alias spelling's
	// carried copies went to its database's server (pointNotesAt), and
	// the fold would have made them the name's.
	if err := foldCarried(wrapTx(btx), func(name string) (string, bool) {
		return serverKey(name), serverKey(name) != name
	}); err != nil {
		return err
	}
	return foldKeyed(btx, bucketHandBack, false, nil)
}

// foldCarried rewrites the keys of bucket carriedcopies ('o' ‖ original
// (8) ‖ server ‖ 0 ‖ copy id → recipients carried; 's' ‖ server ‖ 0 ‖
// copy id ‖ 0 ‖ original (8) → empty; carried.go) whose server to names
// another (ok): the copy an original carries is the holder's under its
// one name, so its question (XQUERYHELD) finds it held and the
// original's end files its discard there. Two entries of one original
// and copy met under one name are one: the recipients of both, whole
// when either is. The 'm' keys name no server.
func foldCarried(tx *Tx, to func(server string) (string, bool)) error {
	b := tx.tx.Bucket(bucketCarried)
	if b == nil {
		return nil
	}
	type move struct{ from, to, v []byte }
	var moves []move
	_ = b.ForEach(func(k, v []byte) error {
		var head, rest []byte
		switch {
		case len(k) > 9 && k[0] == 'o':
			head, rest = k[:9], k[9:]
		case len(k) > 1 && k[0] == 's':
			head, rest = k[:1], k[1:]
		default:
			return nil
		}
		server, tail, ok := bytes.Cut(rest, []byte{0})
		if !ok {
			return nil
		}
		name, ok := to(string(server))
		if !ok {
			return nil
		}
		nk := append(append(append(bytes.Clone(head), name...), 0), tail...)
		moves = append(moves, move{bytes.Clone(k), nk, bytes.Clone(v)})
		return nil
	})
	for _, m := range moves {
		if err := b.Delete(m.from); err != nil {
			return err
		}
	}
	for _, m := range moves {
		v := m.v
		if cur := b.Get(m.to); cur != nil && m.to[0] == 'o' {
			a, wa := decodeCarried(cur)
			c, wc := decodeCarried(v)
			if wa || wc {
				v = []byte{} // whole: settled at the original's end
			} else {
				for _, p := range c {
					if !slices.Contains(a, p) {
						a = append(a, p)
					}
				}
				v = encodeCarried(a)
			}
		}
		if v == nil {
			v = []byte{}
		}
		if err := b.Put(m.to, v); err != nil {
			return err
		}
	}
	return nil
}

// foldKeyed rewrites each key of bucket name whose server name (the key,
// or its part before the first 0 byte) is not serverKey's. An entry
// already under the folded key wins, unless later (stamped: the greater
// first 8 bytes); among spellings, the first in key order. fix, when
// set, rewrites a value.
func foldKeyed(btx *bolt.Tx, name []byte, stamped bool, fix func([]byte) []byte) error {
	b := btx.Bucket(name)
	if b == nil {
		return nil
	}
	type entry struct{ from, to, v []byte }
	var moves []entry
	if err := b.ForEach(func(k, v []byte) error {
		server, rest, sep := bytes.Cut(k, []byte{0})
		key := []byte(serverKey(string(server)))
		if sep {
			key = append(append(key, 0), rest...)
		}
		nv := v
		if fix != nil {
			nv = fix(v)
		}
		if !bytes.Equal(key, k) || !bytes.Equal(nv, v) {
			moves = append(moves, entry{bytes.Clone(k), key, bytes.Clone(nv)})
		}
		return nil
	}); err != nil {
		return err
	}
	// A record under the key itself (its value rewritten) is put first:
	// it wins over the other spellings.
	sort.SliceStable(moves, func(i, j int) bool {
		return bytes.Equal(moves[i].from, moves[i].to) && !bytes.Equal(moves[j].from, moves[j].to)
	})
	for _, m := range moves {
		if err := b.Delete(m.from); err != nil {
			return err
		}
	}
	for _, m := range moves {
		if cur := b.Get(m.to); cur != nil && !(stamped && later(m.v, cur)) {
			continue
		}
		if err := b.Put(m.to, m.v); err != nil {
			return err
		}
	}
	return nil
}

// preFold is what shadowholders recorded before the fold of its
// spellings: ids, each folded name's database ids under any spelling;
// names, the folded names each id was recorded under.
type preFold struct {
	ids, names map[string][]string
}

// ownsDB: db was recorded under a spelling of name (folded).
func (p *preFold) ownsDB(name string, db []byte) bool {
	return slices.Contains(p.ids[name], string(db))
}

// owner is the folded name, other than name's, that db was recorded
// under ("" when none).
func (p *preFold) owner(name string, db []byte) string {
	for _, n := range p.names[string(db)] {
		if n != name {
			return n
		}
	}
	return ""
}

// later: a's stamp (its first 8 bytes, big-endian) is after b's.
func later(a, b []byte) bool {
	if len(a) < 8 || len(b) < 8 {
		return len(a) >= 8
	}
	return binary.BigEndian.Uint64(a[:8]) > binary.BigEndian.Uint64(b[:8])
}

// foldHolderMarks is foldHolderNames for bucket holdermarks: name
// counters (the highest), aliases (0x01 ‖ name: one, its database's
// counter raised). The database counters (0x00 ‖ id) are not names. Run
// after the fold of shadowholders: an alias spelling whose folded name
// has an id of its own, another, is not moved onto it
// (foldAliasOfOwned); nor is an alias already under the folded key kept
// when the name's id is another spelling's, folded onto it (ownKey: the
// names whose id was recorded under the key itself before the fold) —
// an alias over the same spelling's own id is this release's state too
// (its address mistyped: the alias wins) and stays.
func foldHolderMarks(btx *bolt.Tx, ownKey map[string]bool, pre *preFold) error {
	b := btx.Bucket(bucketHolderMarks)
	if b == nil {
		return nil
	}
	type rec struct{ k, v []byte }
	var names, aliases, overOther []rec
	counted := map[string]uint64{} // each spelling's own counter, before the names fold
	_ = b.ForEach(func(k, v []byte) error {
		switch {
		case len(k) > 0 && k[0] == 0:
		case len(k) > 0 && k[0] == 1:
			if string(holderAliasKey(string(k[1:]))) != string(k) {
				aliases = append(aliases, rec{bytes.Clone(k), bytes.Clone(v)})
			} else if !ownKey[string(k[1:])] {
				overOther = append(overOther, rec{bytes.Clone(k), bytes.Clone(v)})
			}
		default:
			if len(v) == 8 {
				counted[string(k)] = binary.BigEndian.Uint64(v)
			}
			if string(holderMarkKey(string(k))) != string(k) {
				names = append(names, rec{bytes.Clone(k), bytes.Clone(v)})
			}
		}
		return nil
	})
	for _, r := range names {
		if err := b.Delete(r.k); err != nil {
			return err
		}
		key := holderMarkKey(string(r.k))
		if cur := b.Get(key); len(cur) == 8 && len(r.v) == 8 && binary.BigEndian.Uint64(cur) >= binary.BigEndian.Uint64(r.v) {
			continue
		}
		if len(r.v) != 8 {
			continue
		}
		if err := b.Put(key, r.v); err != nil {
			return err
		}
	}
	tx := wrapTx(btx)
	// dbMark is the counter of a database as holderMarkTx reads it: its
	// own, else the highest of the names recorded with it — a counter
	// written for it must start from no less.
	dbMark := func(db []byte) uint64 {
		_, n := tx.holderDBMarkTx(string(db))
		return n
	}
	raise := func(db []byte, n uint64) error {
		if n <= dbMark(db) {
			return nil
		}
		var v [8]byte
		binary.BigEndian.PutUint64(v[:], n)
		return b.Put(holderDBMarkKey(string(db)), v[:])
	}
	hb := btx.Bucket(bucketHolders)
	for _, r := range overOther {
		spelling := string(r.k[1:])
		if own := hb.Get(holderKey(spelling)); len(own) == 0 || bytes.Equal(own, r.v) {
			continue
		}
		if err := b.Delete(r.k); err != nil {
			return err
		}
		if pre.ownsDB(spelling, r.v) {
			// An alias of the name's own server's database, recorded
			// under a spelling the fold did not keep: what was filed
			// under the name stays its.
			if err := raise(r.v, counted[spelling]); err != nil {
				return err
			}
			continue
		}
		if err := foldAliasOfOwned(tx, spelling, r.v, pre.owner(spelling, r.v)); err != nil {
			return err
		}
		if err := raise(r.v, counted[spelling]); err != nil {
			return err
		}
	}
	for _, r := range aliases {
		if err := b.Delete(r.k); err != nil {
			return err
		}
		spelling := string(r.k[1:])
		var own []byte
		if hb != nil {
			own = hb.Get(holderKey(spelling))
		}
		name := serverKey(spelling)
		if len(own) > 0 && !bytes.Equal(own, r.v) && pre.ownsDB(name, r.v) {
			// The alias's database is the name's own server's,
			// recorded under a spelling the fold did not keep: the
			// copies made under the spelling are that server's, and
			// what was filed under it goes under the name (foldKeyed).
			if err := raise(r.v, counted[spelling]); err != nil {
				return err
			}
			continue
		}
		if len(own) > 0 && !bytes.Equal(own, r.v) {
			// The name's own server holds its own database: the
			// spelling's copies are not its.
			if err := foldAliasOfOwned(tx, spelling, r.v, pre.owner(name, r.v)); err != nil {
				return err
			}
			if err := raise(r.v, counted[spelling]); err != nil {
				return err
			}
			continue
		}
		key := holderAliasKey(spelling)
		kept := b.Get(key)
		if kept == nil {
			if err := b.Put(key, r.v); err != nil {
				return err
			}
			kept = r.v
		} else if !bytes.Equal(kept, r.v) {
			// The name, with no id of its own, counts as the alias of
			// another database (the one under the key, or of a
			// spelling before this one): the copies made under this
			// spelling are in r.v, on its server.
			if err := foldAliasOfOwned(tx, spelling, r.v, pre.owner(name, r.v)); err != nil {
				return err
			}
			if err := raise(r.v, counted[spelling]); err != nil {
				return err
			}
			continue
		}
		// The kept alias's database counts on from no less than the
		// name's counter and the other alias's database's.
		n := max(dbMark(r.v), dbMark(kept))
		if v := b.Get(holderMarkKey(spelling)); len(v) == 8 {
			n = max(n, binary.BigEndian.Uint64(v))
		}
		if err := raise(kept, n); err != nil {
			return err
		}
	}
	return nil
}

// foldAliasOfOwned folds an alias a release before kept under spelling
// (lower case: its key then) of database db, when spelling's folded name
// has an id of its own recorded, another. The two spellings
// were two servers to that release: the copies pushed under the alias
// spelling were made in db, those pushed under the name in its own
// database. Moved onto the name, the alias would win over its own id
// (holderMarkTx): the name would count as the alias of db, and the
// holder of db would be handed every notification owed to the name's
// server (holdernames.go) — acknowledged there, forgotten here, while
// the copies they concern stay on the name's server until taken over at
// their expiry (a second delivery), and a message given back to a server
// that does not hold its copy (handback) is lost with the poison record.
// So the alias goes, and the notifications filed under its spelling
// (discards, partial, handback: every key whose server part is spelling
// in lower case) go under the name of the server recorded with db
// (owner, read by the caller from the ids before the fold: preFold),
// which is asked for them as before, and the message records naming the
// spelling as their copy's holder name owner (pointRecordsAt), so that
// a given-back entry moved is still its record's, as does every other
// record that names a copy's holder by the spelling (pointNotesAt: a
// failure DSN's reported copies, the single-copy marks, the pushes in
// flight, a damaged record given back, the recipients finished, the
// copies an original carries); when no name is (db's
// server runs another database since: the copies went with it, SR-7),
// they go, as owed to no one that holds the copies, and the records are
// left as they are. The caller raises db's counter to the spelling's
// own.
func foldAliasOfOwned(tx *Tx, spelling string, db []byte, owner string) error {
	if owner != "" {
		if err := pointRecordsAt(tx, spelling, owner); err != nil {
			return err
		}
		if err := pointNotesAt(tx, spelling, owner); err != nil {
			return err
		}
	}
	for _, name := range [][]byte{bucketDiscards, bucketPartial, bucketHandBack} {
		b := tx.tx.Bucket(name)
		if b == nil {
			continue
		}
		type entry struct{ from, to, v []byte }
		var moves []entry
		prefix := append([]byte(nil), 0)
		_ = b.ForEach(func(k, v []byte) error {
			server, rest, sep := bytes.Cut(k, prefix)
			if !sep || strings.ToLower(string(server)) != spelling {
				return nil
			}
			var to []byte
			if owner != "" {
				to = append(append([]byte(serverKey(owner)), 0), rest...)
			}
			moves = append(moves, entry{bytes.Clone(k), to, bytes.Clone(v)})
			return nil
		})
		stamped := !bytes.Equal(name, bucketHandBack)
		for _, m := range moves {
			if err := b.Delete(m.from); err != nil {
				return err
			}
			if m.to == nil {
				continue
			}
			if cur := b.Get(m.to); cur != nil && !(stamped && later(m.v, cur)) {
				continue
			}
			if err := b.Put(m.to, m.v); err != nil {
				return err
			}
		}
	}
	return nil
}

// pointRecordsAt rewrites, in tx, the message records of this server
// that name spelling (lower case: the key a release before kept) as
// their copy's holder to name owner, the server recorded with the
// alias's database, which holds the copies pushed under the spelling:
// the notifications a record files later (discards, a poison message
// given back) go to that server, and a given-back entry moved to owner
// is found by its record again (handBacksFiled, refuseGiven: a resume
// of a message offered is still refused). Written by Put: every index
// stays right. A record that does not decode is left as it is.
func pointRecordsAt(tx *Tx, spelling, owner string) error {
	var ids []ID
	_ = tx.messages.ForEach(func(k, v []byte) error {
		if len(k) != 8 {
			return nil
		}
		m, err := tx.Get(ID(binary.BigEndian.Uint64(k)))
		if err == nil && m.ShadowServer != "" && strings.ToLower(m.ShadowServer) == spelling {
			ids = append(ids, m.ID)
		}
		return nil
	})
	for _, id := range ids {
		m, err := tx.Get(id)
		if err != nil {
			continue
		}
		m.ShadowServer = owner
		if err := tx.Put(m); err != nil {
			return err
		}
	}
	return nil
}

// pointNotesAt is pointRecordsAt for every other record of this server
// that names the holder of a copy of one of its messages by a server
// name — each bucket that stores one apart from the notifications
// foldAliasOfOwned moves and the per-holder records keyed by name: the
// copies a failure DSN reports (dsnreported: a DSN whose entry still
// named the spelling no longer made its original's end find it to carry
// the discard, reportedcopy.go, and its partial discard went to the
// name's server, which holds no such copy), the single-copy marks (the
// server the copy was on, those a copy was pushed to without
// confirmation, the holder of one made in delivery: their discards went
// to the name's server), the pushes on receipt in flight (receiptpush:
// Recover no longer found the record's holder in them, and left the
// copy unmarked), a damaged record given to its copy's holder (its head
// keeps the spelling as found: owner is kept beside it,
// damagedHolderKey, so the given-back entry moved is still its), the
// recipients finished here (finished: the copy coming back from owner
// is the same copy), and the copies an original here carries
// (carriedcopies: owner's question about one, XQUERYHELD, was answered
// done while the original still carried it — the copy went, the message
// on this disk alone — and the original's end filed its discard under
// the spelling, another server's). Names are matched as pointRecordsAt matches
// them (lower case: the spelling the release before kept); owner is a
// folded name, which no later fold rewrites: a second Open finds
// nothing to change.
func pointNotesAt(tx *Tx, spelling, owner string) error {
	is := func(name string) bool { return name != "" && strings.ToLower(name) == spelling }
	// dsnreported: orig (8) ‖ org id ‖ 0 ‖ { server ‖ 0 ‖ copy id ‖ 0 ‖ address ‖ 0 }…
	if b := tx.tx.Bucket(bucketDSNReported); b != nil {
		if err := rewriteValues(b, func(k, v []byte) []byte {
			if len(k) != 8 || len(v) < 8 {
				return nil
			}
			org, rest, ok := bytes.Cut(v[8:], []byte{0})
			if !ok {
				return nil
			}
			f := bytes.Split(rest, []byte{0})
			changed := false
			for i := 0; i+2 < len(f); i += 3 {
				if is(string(f[i])) {
					f[i], changed = []byte(owner), true
				}
			}
			if !changed {
				return nil
			}
			out := append(append(bytes.Clone(v[:8]), org...), 0)
			return append(out, bytes.Join(f, []byte{0})...)
		}); err != nil {
			return err
		}
	}
	// singlecopy: marked-at (8) ‖ server [‖ 0x02 how] [‖ 0x01 refusal] { ‖ 0x00 [0x03] server }…
	if b := tx.tx.Bucket(bucketSingle); b != nil {
		var keys, vals [][]byte
		_ = b.ForEach(func(k, v []byte) error {
			if nv := pointMarkAt(v, is, owner); nv != nil {
				keys, vals = append(keys, bytes.Clone(k)), append(vals, nv)
			}
			return nil
		})
		for i := range keys {
			if err := tx.putMark(keys[i], vals[i]); err != nil { // the count stays right
				return err
			}
		}
	}
	// receiptpush, receiptpushasked: ID → server
	for _, name := range [][]byte{bucketPushing, bucketPushAsked} {
		if b := tx.tx.Bucket(name); b != nil {
			if err := rewriteValues(b, func(_, v []byte) []byte {
				if is(string(v)) {
					return []byte(owner)
				}
				return nil
			}); err != nil {
				return err
			}
		}
	}
	// finished: at (8) ‖ flags (1) ‖ server ‖ 0 ‖ copy id
	if b := tx.tx.Bucket(bucketFinished); b != nil {
		if err := rewriteValues(b, func(_, v []byte) []byte {
			if len(v) < 9 {
				return nil
			}
			server, id, ok := bytes.Cut(v[9:], []byte{0})
			if !ok || !is(string(server)) {
				return nil
			}
			out := append(append(bytes.Clone(v[:9]), serverKey(owner)...), 0)
			return append(out, id...)
		}); err != nil {
			return err
		}
	}
	// carriedcopies: the copies an original here carries (carried.go),
	// keyed by their holder's name: the copy is on owner, whose question
	// (XQUERYHELD) must find it held while the original is here, and to
	// which the original's end owes its discard.
	if err := foldCarried(tx, func(name string) (string, bool) {
		return serverKey(owner), is(name)
	}); err != nil {
		return err
	}
	// damaged: a record whose head names the spelling; the head stays
	// as found, owner is kept beside it.
	if b := tx.tx.Bucket(bucketDamaged); b != nil {
		var keys [][]byte
		_ = b.ForEach(func(k, v []byte) error {
			if len(k) != 8 {
				return nil
			}
			if h, ok := damagedHead(ID(beUint64(k)), v); ok && is(h.ShadowServer) && b.Get(damagedHolderKey(h.ID)) == nil {
				keys = append(keys, bytes.Clone(k))
			}
			return nil
		})
		for _, k := range keys {
			if err := b.Put(damagedHolderKey(ID(beUint64(k))), []byte(owner)); err != nil {
				return err
			}
		}
	}
	return nil
}

// pointMarkAt is a single-copy mark's value v with every server name
// that is (is) replaced by owner; nil when none is. A name pushed to
// twice so is listed once.
func pointMarkAt(v []byte, is func(string) bool, owner string) []byte {
	if len(v) < 8 {
		return nil
	}
	parts := strings.Split(string(v[8:]), pushedSep)
	changed := false
	head := parts[0]
	end := len(head)
	if i := strings.IndexAny(head, refusedSep+howSep); i >= 0 {
		end = i
	}
	if is(head[:end]) {
		head, changed = owner+head[end:], true
	}
	out := []string{head}
	seen := map[string]bool{}
	for _, p := range parts[1:] {
		prefix, name := "", p
		if s, ok := strings.CutPrefix(p, heldPrefix); ok {
			prefix, name = heldPrefix, s
		}
		if is(name) {
			name, changed = owner, true
		}
		if seen[prefix+name] {
			continue
		}
		seen[prefix+name] = true
		out = append(out, prefix+name)
	}
	if !changed {
		return nil
	}
	return append(bytes.Clone(v[:8]), strings.Join(out, pushedSep)...)
}

// rewriteValues puts, for each entry of b, the value fix returns for it
// (nil: the entry stays as it is).
func rewriteValues(b *bolt.Bucket, fix func(k, v []byte) []byte) error {
	var keys, vals [][]byte
	_ = b.ForEach(func(k, v []byte) error {
		if v == nil { // a nested bucket
			return nil
		}
		if nv := fix(k, v); nv != nil {
			keys, vals = append(keys, bytes.Clone(k)), append(vals, nv)
		}
		return nil
	})
	for i := range keys {
		if err := b.Put(keys[i], vals[i]); err != nil {
			return err
		}
	}
	return nil
}
