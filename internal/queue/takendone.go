package queue

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"time"

	"umbra/internal/mailaddr"
	"umbra/internal/orgid"
)

// What a shadow server finished of the copies it took over (rt19e F4).
//
// A copy taken over for failed heartbeats may fail or expire here while
// its primary is away: its failure DSN goes from here. When the primary
// returns with the database it had, its original of that recipient is
// still pending there, and fails or expires in turn: a second failure
// DSN to the same sender for the same recipients (a delay DSN the same
// way). A give-back cannot help: the copy is no longer waiting here.
//
// So the commit of an attempt's results that finishes a recipient of a
// taken-over copy (one whose entry in the index of taken-over copies
// names the database it was taken over under, takenindex.go: every kind
// of takeover — failed heartbeats, an expired copy, another database,
// a rollback mark —; shadow29 item 1: only the first wrote notes, so a
// primary back with its database after the others delivered its
// original again) — delivered, relayed out of the organisation, or failed
// (its DSN, when the sender asked for one, made in that commit) — and
// the administrator's removal of it with a DSN (removeAction; not one
// without, whose primary then delivers its original) also records it
// in bucket takendone:
//
//	takendone  database id ‖ 0x00 ‖ shadow id ‖ 0x00 ‖ rcptKey(address) → at (8, BE) ‖ kind ‖ address
//
// and a commit that makes the delay DSN of such a copy records the
// copy with an empty address key (kind TakenDelayed). Keyed by the
// primary's database id: only the server holding that database
// presents it (XSHADOW … DB=, a secret of the transport servers), and
// only a primary back with that very database has the originals the
// notes speak of. The returning primary asks for them in its holders'
// probe (XQUERYTAKENDONE, shadow verbs version 15; package smtp) — at
// its start before its first delivery, then every heartbeat timeout —
// and, in one commit, marks done without a DSN each recipient of its
// records with this server as holder under that shadow id that is still
// pending (ShadowFinishedElsewhere; never one its original carries for
// another server's copy merged into it, carried.go: that server still
// owes its sender the recipient; a record whose copy was made again
// there while in delivery, the mark keeping the holder, under its org
// id too: rt22a M2), and a delay note as its delay DSN
// sent; a failure DSN here that carries that copy's discard, every
// recipient of which the notes name, is dropped with the discard written
// (rt22a M1: the shadow server, which took the copy over, tried those
// recipients again and reported them, or got them through), and so is a
// failure DSN made while other recipients were pending, whose
// dsnreported entry names the copy (shadowrt35 F1: it carries no
// discard, and was found by none). The notes are forgotten once the primary speaks again after the
// reply (its commit precedes its next command), or message_expiration +
// shadowExpiryGrace after they were written (as the finished records:
// finished.go) — the primary's originals have expired by then.
//
// A recipient handed to another transport server X in a shadow session
// is recorded (as relayed) only later, by the commit that applies X's
// discard of the copy kept here for X — whole, partial, or kept aside
// while the copy was in delivery — when X has delivered it, relayed it
// on, or failed it with its DSN (takenhanded.go, rt26a); while X still
// holds it pending nothing is recorded, and a primary that asks then is
// told "<id> RCPT=<address> TAKEN" from the handed note instead
// (TakenHandedFor, handed38): X's side owns the recipient. One handed to
// the primary itself is never recorded: its original merged the copy
// and still owes the recipient.
//
// Not recorded, the primary keeping today's behaviour for them: a
// relay into the organisation or to a next
// hop that may be in it (the primary, which would have merged it into
// the original the same way): only a relay out of the organisation
// counts — by MX, or through a smart host that cannot be a transport
// server of it (rt20f F3). Package delivery says which (Result.LeftOrg:
// no topology server's address or name, routing.SmartHostServer, the
// rule config check warns by; without a topology, a connector that does
// not send XSHADOW); a record of an "mx:" queue counts as before. A
// relay without a shadow session to one transport server of the
// topology that is not the primary the copy was taken from counts too
// (Result.RelayedTo: every smart host of the connector, or the
// administrator's redirect target, is that server): it took the message
// with its 250; should it relay it on to the primary, the primary's
// original merges it (never settled by a note then: carried.go) or,
// settled already, leaves the relay unmerged (mergeHeld merges no done
// recipient) and delivers it. Relayed so to the primary itself, nothing
// is recorded, and a handed note for it (takenhanded.go) goes unturned.
//
// Crash: the note is in the commit that finishes the recipient; the
// primary's drop in one commit before its next command, which is what
// makes this server forget the note: a crash of either leaves the note
// to be told again, and telling it again changes nothing (the recipient
// is no longer pending there).

// Kinds of a takendone note (the wire word after the address).
const (
	TakenDelivered = 'd'
	TakenRelayed   = 'r'
	TakenFailed    = 'f'
	TakenDelayed   = 'D' // the copy's delay DSN was made here (no address)
	TakenHeld      = 'H' // the copy was held here by the administrator when given back (no address)
)

// TakenDone is one note: the recipient Addr of the copy ID (shadow id)
// was finished here as Kind; Addr is "" for TakenDelayed.
type TakenDone struct {
	ID, Addr string
	Kind     byte
}

// takenDoneWords are the wire words of the kinds.
var takenDoneWords = map[byte]string{TakenDelivered: "DELIVERED", TakenRelayed: "RELAYED", TakenFailed: "FAILED", TakenDelayed: "DELAYED", TakenHeld: "HELD", TakenBusy: "BUSY", TakenOver: "TAKEN"}

// Wire is the note as an XQUERYTAKENDONE reply line carries it:
// "<id> RCPT=<xtext address> DELIVERED|RELAYED|FAILED", "<id> DELAYED"
// or "<id> HELD", or "<id> BUSY" (takenbusy.go: not a note, a copy in
// delivery here).
func (n TakenDone) Wire() string {
	if n.Kind == TakenDelayed || n.Kind == TakenHeld || n.Kind == TakenBusy {
		return n.ID + " " + takenDoneWords[n.Kind]
	}
	return n.ID + PartialDiscardSep + mailaddr.Xtext(n.Addr) + " " + takenDoneWords[n.Kind]
}

// ParseTakenDone reads a line Wire wrote; ok is false for anything else.
func ParseTakenDone(s string) (TakenDone, bool) {
	f := strings.Fields(s)
	if len(f) == 2 && (f[1] == "DELAYED" || f[1] == "HELD" || f[1] == "BUSY") && !strings.Contains(f[0], "\x00") {
		k := byte(TakenDelayed)
		switch f[1] {
		case "HELD":
			k = TakenHeld
		case "BUSY":
			k = TakenBusy
		}
		return TakenDone{ID: f[0], Kind: k}, true
	}
	if len(f) != 3 {
		return TakenDone{}, false
	}
	pd, ok := ParsePartialDiscard(f[0] + " " + f[1])
	if !ok {
		return TakenDone{}, false
	}
	for k, w := range takenDoneWords {
		if w == f[2] && k != TakenDelayed && k != TakenHeld && k != TakenBusy {
			return TakenDone{ID: pd.ID, Addr: pd.Addr, Kind: k}, true
		}
	}
	return TakenDone{}, false
}

func takenDoneKey(dbID, id, addr string) []byte {
	k := make([]byte, 0, len(dbID)+len(id)+len(addr)+2)
	k = append(append(append(k, dbID...), 0), id...)
	k = append(k, 0)
	if addr != "" {
		k = append(k, rcptKey(addr)...)
	}
	return k
}

// takenDoneKind is the note's kind for recipient r of m finished by this
// commit, 0 for none (see above: not handed to a transport server, not
// relayed but out of the organisation — by MX, or as d says, the
// attempt's Result.LeftOrg — or to one server of the topology that is
// not r's primary, Result.RelayedTo).
func takenDoneKind(r *Recipient, d relayDest) byte {
	switch r.Status {
	case Delivered:
		return TakenDelivered
	case Failed:
		return TakenFailed
	case Relayed:
		if d.left || strings.HasPrefix(r.Queue, "mx:") || d.to != "" && !sameServer(d.to, r.Primary) {
			return TakenRelayed
		}
	}
	return 0
}

// relayDest is where an attempt's relay of a recipient went, as far as
// delivery knows: out of the organisation (left), or to the transport
// server to ("" not known).
type relayDest struct {
	left bool
	to   string
}

// leftOrg is, per recipient relayed, where its result says it went
// (Result.LeftOrg, Result.RelayedTo), for noteTakenDone.
func leftOrg(results ...[]Result) map[int]relayDest {
	var out map[int]relayDest
	for _, rs := range results {
		for _, r := range rs {
			if r.Outcome == RelayedOK && (r.LeftOrg || r.RelayedTo != "") {
				if out == nil {
					out = map[int]relayDest{}
				}
				out[r.Rcpt] = relayDest{left: r.LeftOrg, to: r.RelayedTo}
			}
		}
	}
	return out
}

// takenDoneValue is a takendone note's value: its time (8 bytes, ts's
// first 8), its kind and the recipient's address — the one encoding
// every writer of the bucket uses (TakenDoneFor reads it).
func takenDoneValue(ts []byte, kind byte, addr string) []byte {
	v := make([]byte, 0, 9+len(addr))
	return append(append(append(v, ts[:8]...), kind), addr...)
}

// noteTakenDone records, in the commit of an attempt's results and
// before that commit writes m (the index entries it reads go with the
// write), the recipients of m taken over for failed heartbeats that the
// attempt finished (pending in before), and delayed, when this commit
// made the delay DSN, the copies it was made for. left says where the
// recipients relayed went (leftOrg): out of the organisation, or to
// which server of it.
func (t *Tx) noteTakenDone(m *Message, before []RcptStatus, delayed []int, left map[int]relayDest, now time.Time) error {
	b, idx := t.tx.Bucket(bucketTakenDone), t.tx.Bucket(bucketTakenBy)
	if b == nil || idx == nil {
		return nil
	}
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], uint64(nanos(now)))
	dbOf := func(r *Recipient) string {
		if r.Primary == "" || r.ShadowID == "" {
			return ""
		}
		// Under the database the copy was made against, whatever kind
		// of takeover made it this server's (takenindex.go): a primary
		// back with that database has the original, given back or not.
		// The copy's own (takenEntry): a later copy of the message
		// made against another database is noted under that one.
		db, _ := parseTaken(decodeTaken(idx.Get(takenByKey(r.Primary, m.ID))).of(r.ShadowID))
		return db
	}
	for i := range m.Rcpts {
		r := &m.Rcpts[i]
		if i >= len(before) || before[i] != Pending {
			continue
		}
		kind := takenDoneKind(r, left[i])
		if kind == 0 {
			continue
		}
		// Taken over again from the server this one had handed it to
		// (that server failed its heartbeats in turn): the primary it
		// was first taken from is owed the note too (takenhanded.go) —
		// unless the relay went to that primary itself.
		if err := t.handedDone(r, kind, ts[:], left[i].to); err != nil {
			return err
		}
		db := dbOf(r)
		if db == "" {
			continue
		}
		v := takenDoneValue(ts[:], kind, r.Addr)
		if err := b.Put(takenDoneKey(db, r.ShadowID, r.Addr), v); err != nil {
			return err
		}
	}
	for _, i := range delayed {
		if i < 0 || i >= len(m.Rcpts) {
			continue
		}
		r := &m.Rcpts[i]
		if db := dbOf(r); db != "" {
			if err := b.Put(takenDoneKey(db, r.ShadowID, ""), append(ts[:8:8], TakenDelayed)); err != nil {
				return err
			}
		}
	}
	return nil
}

// TakenDoneFor lists up to max notes for the primary that presented
// database dbID in this session; ack forgets those listed (called once
// the primary spoke again after the reply). Held notes are not listed:
// the primary asked without HELD (below shadow verbs 16), and they are
// forgotten (heldnote.go).
func (q *Manager) TakenDoneFor(dbID string, max int) ([]TakenDone, func()) {
	return q.takenDoneFor(dbID, max, false)
}

func (q *Manager) takenDoneFor(dbID string, max int, held bool) ([]TakenDone, func()) {
	if dbID == "" || max <= 0 {
		return nil, nil
	}
	prefix := append([]byte(dbID), 0)
	var notes []TakenDone
	var keys, untold [][]byte
	defer func() { q.forgetHeldFor(dbID, untold) }()
	_ = q.store.View(func(tx *Tx) error {
		b := tx.tx.Bucket(bucketTakenDone)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(notes) < max; k, v = c.Next() {
			id, _, ok := bytes.Cut(k[len(prefix):], []byte{0})
			if !ok || len(v) < 9 {
				continue
			}
			if v[8] == TakenHeld && !held {
				untold = append(untold, bytes.Clone(k))
				continue
			}
			notes = append(notes, TakenDone{ID: string(id), Addr: string(v[9:]), Kind: v[8]})
			keys = append(keys, bytes.Clone(k))
		}
		return nil
	})
	if len(notes) == 0 {
		return nil, nil
	}
	return notes, func() {
		err := q.store.Update(context.Background(), func(tx *Tx) error {
			b := tx.tx.Bucket(bucketTakenDone)
			for _, k := range keys {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			q.log.Error("forgetting what the returning primary was told it need not send failed; it is told again", "database_id", dbID, "err", err)
		}
	}
}

// pruneTakenDone forgets up to limit notes written before cutoff: a
// holder's (takendone), and those kept for a record that was in
// delivery (takendonewait), of a holder never probed again.
func (t *Tx) pruneTakenDone(cutoff time.Time, limit int) (int, error) {
	n := 0
	for _, name := range [][]byte{bucketTakenDone, bucketTakenDoneWait, bucketTakenHanded} {
		b := t.tx.Bucket(name)
		if b == nil {
			continue
		}
		var old [][]byte
		c := b.Cursor()
		for k, v := c.First(); k != nil && n+len(old) < limit; k, v = c.Next() {
			if len(v) < 8 || time.Unix(0, int64(binary.BigEndian.Uint64(v[:8]))).Before(cutoff) {
				old = append(old, bytes.Clone(k))
			}
		}
		for _, k := range old {
			if err := b.Delete(k); err != nil {
				return 0, err
			}
		}
		n += len(old)
	}
	return n, nil
}

// FinishedElsewhere is a recipient (or a delay DSN) of a message here
// that the server keeping its copy finished after taking it over
// (ShadowFinishedElsewhere), for the log and the events.
type FinishedElsewhere struct {
	Msg  *Message
	Rcpt int // -1: the delay DSN
	Kind byte
}

// ShadowFinishedElsewhere is the returning primary's side: server (a
// shadow server this server probed, whose database it presented) says
// it finished, after taking them over, the recipients notes name. In one
// commit, each still pending in a record here that names server as its
// copy's holder under the note's shadow id (an original of that copy:
// found by its org id, or by the index of records by copy id for a
// relayed message's copy: shadowidindex.go) is marked done without a DSN
// (Relayed for one delivered or relayed there, Failed for one failed
// there: its DSN went from there), and a delay note marks the delay DSN
// sent. The commit ends as every settling outside an attempt's results
// does (settleIdle, copySettled): the copy there is owed the discard of
// the recipients settled (the whole of it with none pending, though the
// holder keeps none), and so are the servers the single-copy mark lists;
// a message left with none pending is removed, unless the record also
// keeps a shadow copy for another primary (a recipient Shadowed): that
// primary counts it, so it stays as that copy (state Shadow). A record
// in delivery here is left alone: its attempt's commit is the one
// writer; inDelivery counts those a note would have changed, and their
// notes are kept here in this commit (takendonewait.go) and applied
// first by the next call for server (notes nil: those kept only), so
// the caller goes on with the session and the next batch — a record in
// delivery delays only its own notes. A failure DSN here that carries the
// discard of a copy the notes name (its holder server, or a name of
// server's database: holdernames.go) is not sent when the notes name
// every recipient it reports (droppableDSN): the holder reported them;
// its discard is written instead. It returns what it changed.
func (q *Manager) ShadowFinishedElsewhere(server string, notes []TakenDone) (changed []FinishedElsewhere, inDelivery int, err error) {
	if server == "" || len(notes) == 0 && !q.takenDoneWaiting(server) {
		return nil, 0, nil
	}
	now := q.clk.Now()
	var out []FinishedElsewhere
	var ended []ID
	var dropped []*Message // failure DSNs not sent (droppableDSN)
	var heldHere []heldBack
	settled := 0
	err = q.store.Update(context.Background(), func(tx *Tx) error {
		out, ended, dropped, inDelivery, settled, heldHere = out[:0], ended[:0], dropped[:0], 0, 0, heldHere[:0]
		// The notes told now, after those kept from an earlier batch
		// for a record that was in delivery then (waiting, below).
		waiting, err := tx.takenDoneWaitingTx(server)
		if err != nil {
			return err
		}
		byID := map[string][]TakenDone{}
		var ids []string // as the notes first name them
		seen := map[string]bool{}
		for _, n := range append(waiting, notes...) {
			k := string(takenDoneWaitKey(server, n))
			if seen[k] {
				continue // kept, and told again (the holder's reply was lost)
			}
			seen[k] = true
			if byID[n.ID] == nil {
				ids = append(ids, n.ID)
			}
			byID[n.ID] = append(byID[n.ID], n)
		}
		busy := map[string]bool{} // the copy ids whose notes wait for a record in delivery
		var found []*Message
		var reported []reportedCopy           // every original the notes name, in delivery or not
		aliases := tx.holderAliasesTx(server) // holdernames.go: copies pushed under a misspelt name
		var foundID []string                  // the copy id each of found was matched by
		// A record names server as its copy's holder under the note's
		// id (ShadowServer, ShadowID), or — a copy made again while the
		// message was in delivery, not named by the record yet — the
		// mark keeps server as the holder of the copy pushed under the
		// org id (heldPrefix; rt22a M2: a taken-over copy of this
		// server's, made again on server while its attempt hung, then
		// taken over there while this server was away).
		consider := func(m *Message, id string) {
			if byID[id] == nil || carriesOthersCopy(m) {
				return
			}
			named := holdsCopyOnAny(m, server, aliases) && m.ShadowID == id
			hc := serverKey(tx.heldCopy(m.ID))
			held := !named && id == m.OrgID && needsCopyMarked(m) && (hc == serverKey(server) || aliases[hc] || tx.formerHolder(m, server, aliases))
			if !named && !held {
				return
			}
			reported = append(reported, reportedCopy{m.ID, id})
			if m.State == Active {
				if takenDoneNamesPending(m, rcptsMatch(m), tx.carriedRcpts(m.ID), byID[id]) {
					inDelivery++
					busy[id] = true
				}
				return
			}
			found, foundID = append(found, m), append(foundID, id)
		}
		// A copy on receipt, or one made again, is named by its
		// message's org id (its shadow id): found by the org id index.
		// A relayed message's copy ("<id>-…"), and a failure DSN here
		// that carries the discard of a copy the notes name (rt22a M1:
		// named by its own org id, its shadow id the copy's), are found
		// by the index of records by copy id (shadowidindex.go): one
		// seek per id the notes name, never a walk over the queue in
		// this, the single writer's, transaction. A record of another
		// message that carries the copy's discard is left alone by
		// consider (carriesOthersCopy).
		var carrying []*Message
		for _, id := range ids {
			if orgid.Valid(id) {
				for _, mid := range tx.ByOrgID(id) {
					if m, err := tx.Get(mid); err == nil {
						consider(m, id)
					}
				}
			}
			for _, m := range tx.byShadowID(id) {
				if !orgid.Valid(id) {
					consider(m, id)
				}
				if carriesOthersCopy(m) && (sameServer(m.ShadowServer, server) || aliases[serverKey(m.ShadowServer)]) &&
					(m.State == Ready || m.State == Active) && len(m.Pending()) > 0 {
					carrying = append(carrying, m)
				}
			}
		}
		for _, m := range carrying {
			if !tx.droppableDSN(m, byID[m.ShadowID]) {
				continue
			}
			if m.State == Active {
				inDelivery++ // its attempt's commit is the one writer; kept for later
				busy[m.ShadowID] = true
				continue
			}
			if err := tx.Delete(m.ID); err != nil {
				return err
			}
			// What the DSN's end would have written (results.go).
			if !tx.copyNeededElsewhere(m.ID, m.OrgID, m.ShadowServer, m.ShadowID) {
				if err := tx.AddDiscard(m.ShadowServer, m.ShadowID, now); err != nil {
					return err
				}
			}
			dropped = append(dropped, m)
		}
		// A failure DSN made here while other recipients of the
		// original were pending carries no discard: its dsnreported
		// entry names the copy and the recipients it reports
		// (reportedcopy.go). Queued still when this server was lost,
		// the copy covered those recipients and the holder failed them
		// again and reported them (shadowrt35 F1): the notes naming
		// every recipient it reports drop it, as a DSN that carries the
		// copy's discard is dropped above. Its record goes (Tx.Delete:
		// the servers its mark says a copy of it was pushed to get its
		// discard), and with it its entry: the holder reported them.
		for _, rc := range reported {
			for _, did := range tx.reportedDSNsOf(rc.orig) {
				orig, _, entries, ok := tx.reportedOf(did)
				if !ok || orig != rc.orig {
					continue
				}
				names := false
				for _, e := range entries {
					if (sameServer(e.server, server) || aliases[serverKey(e.server)]) && e.id == rc.id {
						names = true
					}
				}
				if !names {
					continue
				}
				dm, err := tx.Get(did)
				if errors.Is(err, ErrNotFound) {
					continue
				}
				if err != nil {
					return err
				}
				if !dm.OwnDSN() || dm.State != Ready && dm.State != Active || len(dm.Pending()) == 0 || dm.ShadowServer != "" || dm.ShadowID != "" {
					continue
				}
				if !tx.droppableDSN(dm, byID[rc.id]) {
					continue
				}
				if dm.State == Active {
					inDelivery++ // its attempt's commit is the one writer; kept for later
					busy[rc.id] = true
					continue
				}
				if err := tx.Delete(dm.ID); err != nil {
					return err
				}
				dm.ReportOn = rc.orig
				dropped = append(dropped, dm)
			}
		}
		// The copies the database this one was restored from handed to
		// server (handedByPredecessor, restoredhanded.go): the recipients
		// they carry are server's, held here again as the backup had
		// them — settled, never taken over or sent again here.
		for _, id := range ids {
			m, ok := tx.handedCopyOf(server, id)
			if !ok {
				continue
			}
			if m.State == Active {
				if handedByPredecessorPending(m, server, id, byID[id]) {
					inDelivery++ // its attempt's commit is the one writer; kept for later
					busy[id] = true
				}
				continue
			}
			before := statusesNow(m)
			these := settleHandedByPredecessor(m, server, id, byID[id])
			if len(these) == 0 {
				continue
			}
			for _, i := range these {
				if err := tx.handedSettled(&m.Rcpts[i]); err != nil {
					return err
				}
				if err := tx.noteHandedForPrimary(&m.Rcpts[i], now); err != nil {
					return err
				}
				out = append(out, FinishedElsewhere{Msg: m, Rcpt: i, Kind: TakenHanded})
			}
			if len(m.Pending()) == 0 {
				settled++
			}
			if err := tx.copySettled(m, before, now); err != nil {
				return err
			}
			if m.State != Quarantined && nothingLeft(m) {
				if err := tx.Delete(m.ID); err != nil {
					return err
				}
				ended = append(ended, m.ID)
				continue
			}
			if len(m.Pending()) == 0 && m.State != Quarantined {
				m.State = Shadow
			}
			if err := tx.Put(m); err != nil {
				return err
			}
		}
		for k, m := range found {
			before := statusesNow(m)
			rcpts := rcptsMatch(m)
			changed, held := false, false
			// A recipient merged from a copy another server handed here
			// (carried.go) is owed to that copy's sender: a note never
			// settles it. The holder notes a recipient it handed on once
			// the next server's discard came (takenhanded.go), and that
			// server writes it when it hands the copy on — to this
			// server too, which merged it: settled here, it would be
			// lost. The same for one merged with no carry (a plain relay
			// of the copy the holder handed on, a takeover resubmission:
			// noteMergedRcpt): the rule is that a note never settles a
			// recipient the original took in from any copy. A duplicate
			// at worst.
			carried := tx.carriedRcpts(m.ID)
			for _, n := range byID[foundID[k]] {
				if n.Kind == TakenHeld {
					held = true // after the recipients' notes: for those still pending
					continue
				}
				if n.Kind == TakenDelayed {
					if !m.DelayNotified {
						m.DelayNotified, changed = true, true
						out = append(out, FinishedElsewhere{Msg: m, Rcpt: -1, Kind: n.Kind})
					}
					continue
				}
				if i, ok := rcpts.get(n.Addr); ok && m.Rcpts[i].Status == Pending && !carried[""] && !carried[m.Rcpts[i].Addr] {
					r := &m.Rcpts[i]
					r.Status, r.NextHop = Relayed, ""
					r.LastReply = "250 2.0.0 " + takenDoneWhat(n.Kind, server)
					if n.Kind == TakenFailed {
						r.Status = Failed
						r.LastReply = "550 5.0.0 " + takenDoneWhat(n.Kind, server)
					}
					changed = true
					out = append(out, FinishedElsewhere{Msg: m, Rcpt: i, Kind: n.Kind})
				}
			}
			if held && holdable(m) {
				settled, err := tx.holdTakenBackTx(m, server, now)
				if err != nil {
					return err
				}
				changed = true
				heldHere = append(heldHere, heldBack{m, settled})
			}
			if !changed {
				continue
			}
			// The shared ending of a commit that settles recipients
			// other than by an attempt's results (settleIdle): the copy
			// there is owed its discard, full or partial, and the
			// servers the single-copy mark lists theirs (copySettled);
			// a record that also keeps a shadow copy for another
			// primary stays as that copy — that primary counts it.
			if len(m.Pending()) == 0 {
				settled++
			}
			if err := tx.copySettled(m, before, now); err != nil {
				return err
			}
			if nothingLeft(m) {
				if err := tx.Delete(m.ID); err != nil {
					return err
				}
				ended = append(ended, m.ID)
				continue
			}
			if len(m.Pending()) == 0 {
				m.State = Shadow
			}
			if err := tx.Put(m); err != nil {
				return err
			}
		}
		return tx.keepTakenDoneWaiting(server, ids, byID, busy, now)
	})
	if err != nil {
		return nil, 0, err
	}
	for _, f := range out {
		if f.Rcpt < 0 {
			q.ev.Event("finished-elsewhere", f.Msg, nil, "delay DSN sent by "+server+", which took the copy over: not sent again here")
			q.log.Info("delay DSN sent by the shadow server that took the copy over: not sent again here",
				"msg_id", f.Msg.ID.String(), "shadow_server", server)
			continue
		}
		r := &f.Msg.Rcpts[f.Rcpt]
		if f.Kind != TakenHanded {
			q.ev.Event("finished-elsewhere", f.Msg, r, takenDoneWhat(f.Kind, server))
		}
		what := "recipient finished by the shadow server that took the copy over: not delivered or reported again here"
		if f.Kind == TakenHanded {
			q.ev.Event("finished-elsewhere", f.Msg, r, handedByPredecessorText(server))
			q.log.Info("recipient handed to another transport server by the database this one was restored from: owned there, not taken over, delivered or reported here",
				"msg_id", f.Msg.ID.String(), "rcpt", r.Addr, "holder", server)
			continue
		}
		if f.Kind == TakenOver {
			// Nothing is finished yet: the copy waits there, or at the
			// server it was handed to (rt38b F1: the WARN said finished).
			what = "recipient left to the shadow server that took the copy over, which delivers it from there: not delivered or reported here"
		}
		q.log.Info(what, "msg_id", f.Msg.ID.String(), "rcpt", r.Addr, "shadow_server", server, "there", takenDoneWords[f.Kind])
	}
	q.heldTakenBack(server, heldHere)
	for _, m := range dropped {
		// The message reported on: its queue id when known (a DSN that
		// carries no discard, reportedcopy.go), else the copy's shadow
		// id — ReportOn is not stored, and a zero id named no message.
		// What the notes tell, no more (shadowout48 F4): not why the
		// copy was taken over, nor that a failure was reported.
		// The log line names it as the event does.
		of, copyKey, copyID := "the copy of "+m.ReportOn.String(), "report_on", m.ReportOn.String()
		if m.ReportOn == 0 {
			of, copyKey, copyID = "the copy "+m.ShadowID, "shadow_id", m.ShadowID
		}
		what := "failure DSN not sent: " + server + ", which took " + of +
			" over, finished every recipient it reports (failed there, its DSN made there if one is owed, or handed on or delivered there)"
		q.ev.Event("finished-elsewhere", m, nil, what)
		q.log.Info("failure DSN not sent: the shadow server that took the copy over finished every recipient it reports",
			"msg_id", m.ID.String(), copyKey, copyID, "shadow_server", server)
		ended = append(ended, m.ID)
	}
	for _, id := range ended {
		q.notifyGone(id)
	}
	// The discards the commit owes (copySettled, the dropped DSNs') woke
	// their servers' long polls with it (owedsignal.go).
	return out, inDelivery, nil
}

// reportedCopy is an original here whose copy (shadow id id) notes name.
type reportedCopy struct {
	orig ID
	id   string
}

// droppableDSN reports whether the failure DSN m, which carries the
// discard of a copy notes (all for that copy) speak of, reports only
// recipients those notes name as finished at the shadow server that took
// the copy over (rt22a M1): failed there (and reported there, as its
// DSN says), or delivered or relayed — then this DSN's "failed" is not
// even true. Its recipients are read from its body (Final-Recipient, one
// per recipient reported, results.go); a body that cannot be read, a
// recipient written as utf-8 (xtext), or one no note names keeps the
// DSN: that recipient may still be pending there (and given back to this
// server, which has no other record of it), so a second report is the
// safe side, never none.
func (t *Tx) droppableDSN(m *Message, notes []TakenDone) bool {
	named := newRcptMatch[int]()
	for i, n := range notes {
		if n.Kind != TakenDelayed && n.Addr != "" {
			named.put(n.Addr, i)
		}
	}
	b, err := t.Body(m.ID)
	if err != nil {
		return false
	}
	seen := 0
	for line := range bytes.Lines(b) {
		v, ok := bytes.CutPrefix(line, []byte("Final-Recipient:"))
		if !ok {
			continue
		}
		addr, ok := strings.CutPrefix(strings.TrimSpace(string(v)), "rfc822;")
		if !ok {
			return false
		}
		if _, ok := named.get(strings.TrimSpace(addr)); !ok {
			return false
		}
		seen++
	}
	return seen > 0
}

// takenDoneNamesPending reports whether one of notes (all for m's copy)
// would change m: a recipient of it still pending that it did not take
// in from another copy (carried, tx.carriedRcpts: no note settles one,
// as the commit that applies them says), or its delay DSN not sent yet.
// rcpts is rcptsMatch(m). A note that would change nothing is not kept
// for the record in delivery (takendonewait.go).
func takenDoneNamesPending(m *Message, rcpts *rcptMatch[int], carried map[string]bool, notes []TakenDone) bool {
	for _, n := range notes {
		if n.Kind == TakenHeld {
			if holdable(m) {
				return true
			}
			continue
		}
		if n.Kind == TakenDelayed {
			if !m.DelayNotified {
				return true
			}
			continue
		}
		if i, ok := rcpts.get(n.Addr); ok && m.Rcpts[i].Status == Pending && !carried[""] && !carried[m.Rcpts[i].Addr] {
			return true
		}
	}
	return false
}

// rcptsMatch is the matcher of m's recipients (their index in m.Rcpts):
// a note's address, from the copy the shadow server held, names one as
// any other copy's address does (rcptMatch) — the same local part first,
// else the one recipient equal in ASCII case. Built over every recipient
// of the record, not only those pending: "TD@" finished here and "td@"
// still pending are two mailboxes, and a note naming TD@ must find TD@
// (done: nothing to change), never fall back to its case twin — the
// callers then require the recipient found to be pending.
func rcptsMatch(m *Message) *rcptMatch[int] {
	p := newRcptMatch[int]()
	for i := range m.Rcpts {
		p.put(m.Rcpts[i].Addr, i)
	}
	return p
}

// takenDoneWhat is the reply text of a recipient finished elsewhere: what
// server did as far as its note tells (shadowout48 F4). DELIVERED is a
// mailbox there; RELAYED is handed on from there — out of the
// organisation (its final destination as far as umbra knows) or to
// another transport server, which the note does not tell apart: never
// "relayed by", which read as a hop on the way for mail at its
// destination; FAILED is bounced there, its DSN (if one is owed) made
// there. Nor does a note say why the copy was taken over (failed
// heartbeats, a new database, its expiry): not "while this server was
// away".
func takenDoneWhat(kind byte, server string) string {
	switch kind {
	case TakenDelivered:
		return "delivered by " + server + ", which took the copy over"
	case TakenRelayed:
		return "finished by " + server + ", which took the copy over and handed it on from there (out of the organisation or to another transport server)"
	case TakenOver:
		// A copy of the database this one was restored from waiting
		// there (takenover.go), or one handed on there to another
		// transport server that still holds it (takenhanded.go).
		return "taken over by " + server + ", which delivers it from there (waiting there, or handed on to another server): not delivered here"
	}
	return "failed on " + server + ", which took the copy over (a DSN, if one is owed, comes from there)"
}
