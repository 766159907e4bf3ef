package queue

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ShadowPeer is what this server, as shadow server, knows of one primary
// (SPEC SR-13). It lives in bucket shadowpeers and is changed in the same
// commits as the copies it concerns, so a restart of either side keeps
// SR-7: the database id a copy was made against is never forgotten.
type ShadowPeer struct {
	Primary string
	// Addr is where heartbeats go: "host:port", or "host:port via
	// CONNECTOR" when the copies went through a send connector.
	Addr string
	// DatabaseID is the primary's transport database id as last seen.
	DatabaseID string
	// LastContact is the last successful session (or the first copy).
	LastContact time.Time
	// LastTry is when the last failed heartbeat started; the next one is
	// due a heartbeat timeout after it, not after its failure (SR-16).
	LastTry time.Time
	// Failures counts consecutive failed heartbeats, before and after
	// a takeover, until the next contact.
	Failures int
	// TakenOver is set by a takeover and cleared by the next contact: the
	// primary's taken-over copies are made due again when it answers.
	TakenOver bool
	// TakeoverFailures is, while TakenOver, the count of failed
	// heartbeats that made the takeover (Failures stays at it while it
	// stands, ShadowHeartbeatFailed: one number everywhere):
	// kept beside the record, in bucket takeoverfailures, which an older
	// release does not open; 0 when not known (a takeover it recorded).
	TakeoverFailures int
}

const peerVersion = 1

func (p *ShadowPeer) encode() []byte {
	e := &encoder{buf: []byte{peerVersion}}
	e.str(p.Addr)
	e.str(p.DatabaseID)
	e.time(p.LastContact)
	e.time(p.LastTry)
	e.uint(uint64(p.Failures))
	taken := uint64(0)
	if p.TakenOver {
		taken = 1
	}
	e.uint(taken)
	return e.buf
}

func decodePeer(name string, b []byte) (*ShadowPeer, error) {
	if len(b) == 0 || b[0] != peerVersion {
		return nil, fmt.Errorf("%w: shadow peer record version", errCorrupt)
	}
	d := &decoder{buf: b[1:]}
	p := &ShadowPeer{Primary: name}
	p.Addr = d.str()
	p.DatabaseID = d.str()
	p.LastContact = d.time()
	p.LastTry = d.time()
	p.Failures = int(d.small())
	switch d.small() {
	case 0:
	case 1:
		p.TakenOver = true
	default:
		if d.err == nil {
			d.err = errors.New("taken-over flag")
		}
	}
	if d.err == nil && len(d.buf) != 0 {
		d.err = fmt.Errorf("%d trailing bytes", len(d.buf))
	}
	if d.err != nil {
		return nil, fmt.Errorf("%w: shadow peer %s: %v", errCorrupt, name, d.err)
	}
	return p, nil
}

// Peer returns the stored state of a primary, or nil.
func (t *Tx) Peer(primary string) (*ShadowPeer, error) {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	v := t.tx.Bucket(bucketPeers).Get([]byte(primary))
	if v == nil {
		return nil, nil
	}
	p, err := decodePeer(primary, v)
	if err == nil {
		t.readTakeoverFailures(p)
	}
	return p, err
}

// readTakeoverFailures reads p's TakeoverFailures (bucket
// takeoverfailures), for a primary taken over.
func (t *Tx) readTakeoverFailures(p *ShadowPeer) {
	b := t.tx.Bucket(bucketTakeoverFailures)
	if b == nil || !p.TakenOver {
		return
	}
	if n, k := binary.Uvarint(b.Get([]byte(p.Primary))); k > 0 {
		p.TakeoverFailures = int(n)
	}
}

// PutPeer writes a primary's state, and the count that made its takeover
// beside it while it is taken over, and the index of its database id
// (peerdb.go).
func (t *Tx) PutPeer(p *ShadowPeer) error {
	p.Primary = serverKey(p.Primary) // one holder-side spelling (primaryfold.go)
	peers := t.tx.Bucket(bucketPeers)
	added, err := t.notePeerDB(p)
	if err != nil {
		return err
	}
	if err := peers.Put([]byte(p.Primary), p.encode()); err != nil {
		return err
	}
	if added { // an id met first now retires another: the bound, in this commit
		if err := t.boundRetiredDBsTx(p.Primary); err != nil {
			return err
		}
	}
	b := t.tx.Bucket(bucketTakeoverFailures)
	switch {
	case b == nil: // a database opened for a restore check
		return nil
	case p.TakenOver && p.TakeoverFailures > 0:
		return b.Put([]byte(p.Primary), binary.AppendUvarint(nil, uint64(p.TakeoverFailures)))
	case !p.TakenOver:
		return b.Delete([]byte(p.Primary))
	}
	return nil
}

// DeletePeer forgets a primary's state. The database ids met as its
// stay its own (peerdb.go).
func (t *Tx) DeletePeer(primary string) error {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	if b := t.tx.Bucket(bucketTakeoverFailures); b != nil {
		if err := b.Delete([]byte(primary)); err != nil {
			return err
		}
	}
	if err := t.tx.Bucket(bucketPeers).Delete([]byte(primary)); err != nil {
		return err
	}
	// Its id, held by the record until now, is retired with it: the
	// bound of retired ids, in this commit (retiredbound.go).
	return t.boundRetiredDBsTx(primary)
}

// Peers lists the stored primaries, by name. A record that does not
// decode is left out and named in damaged: one damaged record must not
// stop the shadow work of every other primary (damagedpeer.go).
func (t *Tx) Peers() (peers []*ShadowPeer, damaged []string, err error) {
	err = t.tx.Bucket(bucketPeers).ForEach(func(k, v []byte) error {
		p, err := decodePeer(string(k), v)
		if err != nil {
			damaged = append(damaged, string(k))
			return nil
		}
		t.readTakeoverFailures(p)
		peers = append(peers, p)
		return nil
	})
	return peers, damaged, err
}

func takenKey(id ID, primary string) []byte {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	return append(append(id.Key(), 0), primary...)
}

// AddEarlyTakeover records a takeover from primary of a message that is
// still in delivery here; the commit of its results applies it, under
// the database id stored for primary now, never given back.
func (t *Tx) AddEarlyTakeover(id ID, primary string, now time.Time) error {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	return t.addEarlyTakeover(id, primary, now, takenValue(t.peerDatabase(primary), false))
}

// addEarlyTakeover is AddEarlyTakeover with the index value its copies
// get when the takeover is applied (giveBack, a takenValue: the database
// id they were taken over under, and whether they may go back to the
// primary answering again with it; takenindex.go): it follows the time
// in the value.
//
// A second takeover kept aside for the same message and primary (the
// primary back with a new database, then failing its heartbeats) keeps
// the first one's time and merges its value as the index does
// (mergeTaken): overwritten with the later, given-back value, the
// primary's return dropped it (dropEarlyTakeoversOf), and the copy made
// against the old database stayed shadowed for a database that never
// had it — dropped at its "done" answer.
func (t *Tx) addEarlyTakeover(id ID, primary string, now time.Time, giveBack string) error {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	b := t.tx.Bucket(bucketTaken)
	k := takenKey(id, primary)
	v := make([]byte, 8, 8+len(giveBack))
	binary.BigEndian.PutUint64(v, uint64(nanos(now)))
	if old := b.Get(k); len(old) >= 8 {
		copy(v, old[:8])
		giveBack = mergeTaken(string(old[8:]), giveBack)
	}
	return b.Put(k, append(v, giveBack...))
}

// earlyTakeover is a takeover kept aside for a message in delivery.
type earlyTakeover struct {
	primary  string
	giveBack string // the index value its copies get (takenValue), or ""
	at       []byte // when it was taken over (8, BE), as the handed notes keep it
}

// TakeEarlyTakeovers returns and forgets the primaries whose takeover of
// message id waits for the commit of its results.
func (t *Tx) TakeEarlyTakeovers(id ID) ([]string, error) {
	ts, err := t.takeEarlyTakeovers(id)
	var out []string
	for _, e := range ts {
		out = append(out, e.primary)
	}
	return out, err
}

func (t *Tx) takeEarlyTakeovers(id ID) ([]earlyTakeover, error) {
	b := t.tx.Bucket(bucketTaken)
	prefix := append(id.Key(), 0)
	var keys [][]byte
	var out []earlyTakeover
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		keys = append(keys, bytes.Clone(k))
		e := earlyTakeover{primary: string(k[len(prefix):])}
		if len(v) >= 8 {
			e.at = bytes.Clone(v[:8])
		}
		if len(v) > 8 {
			e.giveBack = string(v[8:])
		}
		out = append(out, e)
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// hasShadowCopies reports whether primary is still watched here: its
// shadow queue holds a message (held or taken over), or a copy taken
// over from it waits elsewhere — in a suspended route's queue, a route's
// queue for its retry, redirected, or poisoned. Such a copy keeps its
// primary until an attempt hands it on, and the primary's discard still
// settles it (applyDiscardsTx): it must stay watched for that. Two
// seeks: the queue index and the index of taken-over copies
// (takenindex.go), kept in the commits that change the records.
func (t *Tx) hasShadowCopies(primary string) bool {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	return len(t.InQueue("shadow:"+primary, 1)) > 0 || t.hasTakenOver(primary)
}

// notePeer records, in the commit that makes a copy Shadowed, the primary
// it is shadowed for: its address, and the database id the copy was made
// against when none is known yet (the caller checked it:
// databaseOfAnotherTx). A primary first seen now counts as contacted now
// (the copy was just made in a session with it).
func (t *Tx) notePeer(primary, addr, dbID string, now time.Time) error {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	p, err := t.Peer(primary)
	if err != nil {
		return err
	}
	if p == nil {
		p = &ShadowPeer{Primary: primary, LastContact: now}
	}
	if addr != "" {
		p.Addr = addr
	}
	if p.DatabaseID == "" {
		p.DatabaseID = dbID
	}
	return t.PutPeer(p)
}

// takeoverRcpts turns m's recipients shadowed for primary back to
// pending; they stay listed in the primary's shadow queue until an
// attempt hands them on (SR-6). It returns the ids of the copies taken
// over (none: nothing changed), each once, for their index values
// (markTaken: each copy keeps its own database).
func takeoverRcpts(m *Message, primary, reason string) []string {
	var sids []string
	for i := range m.Rcpts {
		if r := &m.Rcpts[i]; r.Status == Shadowed && r.Primary == primary {
			takeoverRcpt(r, reason)
			if !slices.Contains(sids, r.ShadowID) {
				sids = append(sids, r.ShadowID)
			}
		}
	}
	return sids
}

// takeoverRcpt makes r pending again. It keeps Primary and ShadowID —
// which copy it was — until an attempt hands it on: the primary's
// discard for that copy still settles it (discardSettles) when the
// primary comes back and finishes the original, whatever holds the
// copy here meanwhile.
func takeoverRcpt(r *Recipient, reason string) {
	r.Status, r.Queue, r.PrimaryAddr, r.PrimaryVia = Pending, "shadow:"+r.Primary, "", ""
	// Umbra's own diagnostic: the primary's host no longer speaks for
	// the recipient (a DSN names no Remote-MTA for it: dsnReporter).
	r.NextHop, r.LastReply = "", takeoverPrefix+r.Primary+": "+reason
}

// takeoverPrefix begins the note of a recipient taken over from a
// primary (takeoverRcpt).
const takeoverPrefix = "451 4.4.0 taken over from "

// takeoverTx makes this server primary for every copy it shadows for
// primary, in tx. A message in delivery here is not rewritten — the
// commit of its results would save its older copy over the change —
// but marked; that commit applies the takeover (one writer per message,
// see doc.go). It returns the messages changed now and the number marked.
// Each copy records the database id stored for the primary, read before
// the caller changes it (a new database, SR-7): the one the copies were
// made against, never given back (takenindex.go).
func (t *Tx) takeoverTx(primary, reason string, now time.Time) (taken []*Message, marked int, err error) {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	return t.takeoverGiveBackTx(primary, reason, takenValue(t.peerDatabase(primary), false), now)
}

// takeoverGiveBackTx is takeoverTx with the index value its copies get
// (takenValue): for failed heartbeats, the primary's database id alone —
// they go back to it when it answers again with that database (it may
// only have been cut off or stopped; takenindex.go).
func (t *Tx) takeoverGiveBackTx(primary, reason, giveBack string, now time.Time) (taken []*Message, marked int, err error) {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	for _, id := range t.InQueue("shadow:"+primary, 1<<31-1) {
		m, err := t.Get(id)
		if err != nil {
			return nil, 0, err
		}
		if m.State == Active {
			shadowed := false
			for _, r := range m.Rcpts {
				shadowed = shadowed || r.Status == Shadowed && r.Primary == primary
			}
			if shadowed {
				if err := t.addEarlyTakeover(m.ID, primary, now, giveBack); err != nil {
					return nil, 0, err
				}
				marked++
			}
			continue
		}
		if err := t.renewHanded(m, primary, now); err != nil { // takenhanded.go
			return nil, 0, err
		}
		// A copy of a message whose original this server holds: the
		// original's recipients are the original's (twinoriginal.go).
		settled, gone, err := t.settleByOriginalNow(m, primary)
		if err != nil {
			return nil, 0, err
		}
		if gone {
			continue
		}
		sids := takeoverRcpts(m, primary, reason)
		if len(sids) == 0 {
			if settled {
				if err := t.Put(m); err != nil {
					return nil, 0, err
				}
			}
			continue
		}
		if m.State != Poison && m.State != Suspended {
			m.State, m.NextAttempt = Ready, now
		}
		if err := t.Put(m); err != nil {
			return nil, 0, err
		}
		if err := t.markTaken(primary, m.ID, sids, giveBack); err != nil {
			return nil, 0, err
		}
		taken = append(taken, m)
	}
	return taken, marked, nil
}

// newDatabaseTx starts p's record afresh in tx for the new database id
// its primary presented (SR-7), before the caller stores that id: the
// failed heartbeats, the takeover they made and its count, the last
// contact and the last try were the old database's, and shadow list, the
// takeover bound and the heartbeat timer read them as the new one's
// (shadowout48 F1). The new database is first heard now, as a primary
// first seen is. The copies taken over for failed heartbeats that wait
// for a route are made due now, as the next contact of a taken-over
// primary does (retakeDue): it answers again. It returns their number.
func (t *Tx) newDatabaseTx(p *ShadowPeer, now time.Time) (retried int, err error) {
	if p.TakenOver || p.Failures > 0 {
		if retried, err = t.retakeDue(p.Primary, now); err != nil {
			return 0, err
		}
	}
	p.LastContact, p.LastTry, p.Failures, p.TakenOver, p.TakeoverFailures = now, time.Time{}, 0, false, 0
	return retried, nil
}

// retakeDue makes the taken-over copies of primary that wait for a route
// due now: the primary answers again, so its route may be back (SR-16).
func (t *Tx) retakeDue(primary string, now time.Time) (int, error) {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	n := 0
	for _, id := range t.InQueue("shadow:"+primary, 1<<31-1) {
		m, err := t.Get(id)
		if err != nil {
			return 0, err
		}
		waiting := false // a taken-over recipient waits in the shadow queue
		for _, r := range m.Rcpts {
			waiting = waiting || r.Status == Pending && r.Queue == "shadow:"+primary
		}
		if !waiting || m.State != Ready || !m.NextAttempt.After(now) {
			continue
		}
		m.NextAttempt = now
		if err := t.Put(m); err != nil {
			return 0, err
		}
		n++
	}
	return n, nil
}

// peerGrace is how long the record of a primary without copies is kept.
const peerGrace = 10 * time.Minute

// ShadowPeers lists every primary this server holds copies for — taken
// over or not, so that a primary whose copies wait for a route is still
// heartbeated (SR-16) — with its stored state. A primary without copies
// is not listed; its record is dropped here peerGrace after its last
// contact. A shadow queue without a stored primary (a database
// written before the state was persisted) gets one from its copies.
func (q *Manager) ShadowPeers() ([]ShadowPeer, error) {
	now := q.clk.Now()
	var out []ShadowPeer
	var stale []string
	var found []*ShadowPeer
	var damaged []string
	err := q.store.View(func(tx *Tx) error {
		peers, bad, err := tx.Peers()
		if err != nil {
			return err
		}
		damaged = bad
		known := map[string]bool{}
		for _, name := range bad {
			known[name] = true // its record is there: not made again from its copies
		}
		for _, p := range peers {
			known[p.Primary] = true
			if !tx.hasShadowCopies(p.Primary) {
				// Not watched. The record is kept a while: a contact made
				// before the commit of a first copy holds the database id
				// that copy is compared against.
				// Nor while notes of what this server took over are owed to
				// it (heldservers.go): a primary its topology no longer
				// names is let in by this record to ask for them.
				if now.Sub(p.LastContact) > peerGrace && now.Sub(p.LastTry) > peerGrace && !tx.heldNotesFor(p.DatabaseID) {
					stale = append(stale, p.Primary)
				}
				continue
			}
			out = append(out, *p)
		}
		if !q.peersFound.Load() {
			found = tx.unrecordedPeers(known)
		}
		return nil
	})
	if err == nil {
		q.noteDamagedPeers(damaged) // damagedpeer.go
	}
	if err != nil || len(stale) == 0 && len(found) == 0 {
		if err == nil {
			q.peersFound.Store(true)
		}
		return out, err
	}
	err = q.store.Update(context.Background(), func(tx *Tx) error {
		for _, name := range stale {
			if !tx.hasShadowCopies(name) { // still none: a copy may have come meanwhile
				if err := tx.DeletePeer(name); err != nil {
					return err
				}
			}
		}
		for _, p := range found {
			if old, err := tx.Peer(p.Primary); err != nil || old != nil {
				continue
			}
			if err := tx.PutPeer(p); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		q.peersFound.Store(true)
		for _, p := range found {
			out = append(out, *p)
		}
	}
	return out, err
}

// unrecordedPeers makes peer records for shadow queues without one (a
// database written before the state was persisted), from their copies.
// Never contacted as far as this database knows (zero last contact),
// such a primary is heartbeated at once, which learns its database id.
func (t *Tx) unrecordedPeers(known map[string]bool) []*ShadowPeer {
	var out []*ShadowPeer
	for _, st := range t.Queues() {
		primary, ok := strings.CutPrefix(st.Name, "shadow:")
		if !ok || known[primary] {
			continue
		}
		p := &ShadowPeer{Primary: primary}
		for _, id := range t.InQueue(st.Name, 1<<31-1) {
			m, err := t.Get(id)
			if err != nil {
				continue
			}
			for _, r := range m.Rcpts {
				if r.Status == Shadowed && r.Primary == primary && p.Addr == "" {
					p.Addr = r.PrimaryAddr
					if r.PrimaryVia != "" {
						p.Addr += " via " + r.PrimaryVia
					}
				}
			}
			if p.Addr != "" {
				break
			}
		}
		out = append(out, p)
	}
	return out
}

// ShadowCopyCount counts the copies of a primary by what they are now:
// Held — messages with a recipient still shadowed for it (the primary
// has the message; this server keeps the copy until its discard) — and
// TakenOver — messages with only recipients taken back from it that no
// attempt has handed on yet, this server's to deliver, wherever they
// wait: its shadow queue (for a route or attempt), a route's queue (for
// a retry, or suspended), a redirect, the poison queue. A message is
// counted once, Held first.
type ShadowCopyCount struct {
	Held      int `json:"held"`
	TakenOver int `json:"taken_over"`
}

// ShadowTakenUnder lists, for every primary with copies taken over from
// it here, the transport database ids those copies were taken over
// under, sorted (takenindex.go): the database their originals were in —
// after a new database met (SR-7), not the id stored for the primary
// now. An entry an earlier release wrote names none. shadow list shows
// them beside the primary's id (shadow28 item 1: copies taken over from
// an older database read as the running primary's).
func (q *Manager) ShadowTakenUnder() (map[string][]string, error) {
	out := map[string][]string{}
	err := q.store.View(func(tx *Tx) error {
		for _, primary := range tx.takenPrimaries() {
			_, entries := tx.takenOverOf(primary)
			var ids []string
			for _, e := range entries {
				for _, v := range e.values() { // each copy's own (takenEntry)
					if under, _ := parseTaken(v); under != "" && !slices.Contains(ids, under) {
						ids = append(ids, under)
					}
				}
			}
			if len(ids) > 0 {
				slices.Sort(ids)
				out[primary] = ids
			}
		}
		return nil
	})
	return out, err
}

// ShadowCopies counts the copies of every primary by kind
// (ShadowCopyCount): the operator's view (shadow list) says what the
// copies are, not what the primary's record says it once was (a primary
// taken over earlier may hold new copies since). Held copies are read
// from the shadow queues, taken-over ones from their index.
func (q *Manager) ShadowCopies() (map[string]ShadowCopyCount, error) {
	var out map[string]ShadowCopyCount
	err := q.store.View(func(tx *Tx) error {
		out, _ = tx.shadowCopies()
		return nil
	})
	return out, err
}

// ShadowCopiesAged is ShadowCopies with the age of the oldest copy of
// every primary among those counted — held ones and taken-over ones
// wherever they wait (a route's queue, a redirect, poison) —, measured
// as Queues measures a queue's (from its id, the time it arrived), in
// one read: shadow list's OLDEST covers every copy COPIES counts.
func (q *Manager) ShadowCopiesAged() (map[string]ShadowCopyCount, map[string]time.Duration, error) {
	now := q.clk.Now()
	var counts map[string]ShadowCopyCount
	ages := map[string]time.Duration{}
	err := q.store.View(func(tx *Tx) error {
		var oldest map[string]ID
		counts, oldest = tx.shadowCopies()
		for p, id := range oldest {
			ages[p] = id.Age(now)
		}
		return nil
	})
	return counts, ages, err
}

// shadowCopies counts the copies of every primary (ShadowCopies) and
// finds the oldest of each (ShadowOldest), in one read.
func (tx *Tx) shadowCopies() (map[string]ShadowCopyCount, map[string]ID) {
	out, oldest := map[string]ShadowCopyCount{}, map[string]ID{}
	note := func(primary string, id ID) {
		if o, ok := oldest[primary]; !ok || id < o {
			oldest[primary] = id
		}
	}
	held := map[string]map[ID]bool{}
	for _, st := range tx.Queues() {
		primary, ok := strings.CutPrefix(st.Name, "shadow:")
		if !ok {
			continue
		}
		var c ShadowCopyCount
		for _, id := range tx.InQueue(st.Name, 1<<31-1) {
			m, err := tx.Get(id)
			if err != nil {
				continue
			}
			for _, r := range m.Rcpts {
				if r.Status == Shadowed && r.Primary == primary {
					c.Held++
					if held[primary] == nil {
						held[primary] = map[ID]bool{}
					}
					held[primary][id] = true
					note(primary, id)
					break
				}
			}
		}
		out[primary] = c
	}
	for _, primary := range tx.takenPrimaries() {
		c := out[primary]
		ids, _ := tx.takenOverOf(primary)
		for _, id := range ids {
			if !held[primary][id] {
				c.TakenOver++
				note(primary, id)
			}
		}
		out[primary] = c
	}
	return out, oldest
}

// ShadowContact records a successful session with a primary (a delivery
// session, a heartbeat or a poll) in one commit: when the primary
// presents a database id other than the stored one it lost its queue, and
// every copy held for it is taken over (SR-7) — whichever side restarted
// since; otherwise the discards are applied (SR-3). The heartbeat timer
// and failures are reset, and copies taken over earlier are made due at
// once when the primary answers again.
//
// Only a session that completed a discard query is a contact: the
// heartbeat timer it resets is the bound on how long a discard committed
// at the primary waits to be fetched (SR-5). An XSHADOW reply alone is
// ShadowPresented.
//
// A contact presenting a database id this server keeps as another
// server's is refused before anything is noted (rt23a F1): it is no
// contact — not the primary heard from (answeredAt), not its
// destinations' failures cleared — so the failed heartbeats of a primary
// whose every session presents another server's id take its copies over
// at the time shadow list announces, instead of a bound that slides with
// each refusal.
func (q *Manager) ShadowContact(primary, dbID string, discards []string) (ContactResult, error) {
	return q.ShadowContactMarked(primary, dbID, 0, discards)
}

// ShadowContactMarked is ShadowContact for discards listed by a reply
// that presented the primary's rollback mark (the XQUERYDISCARD reply's
// MARK=, of database dbID; 0 for none): an early discard among them is
// kept under that mark, the one it was made under, not a higher one
// stored meanwhile (earlystale.go).
func (q *Manager) ShadowContactMarked(primary, dbID string, mark uint64, discards []string) (ContactResult, error) {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	if dbID != "" {
		q.shadowOwnedAgain(primary) // its XSHADOW let this server in (disowned.go)
		other, err := q.ShadowDatabaseOfAnother(primary, dbID)
		if err != nil {
			return ContactResult{}, err
		}
		if other != "" {
			return ContactResult{}, &DatabaseOfAnotherError{Server: primary, DatabaseID: dbID, Other: other}
		}
	}
	q.primaryAnswered(primary)
	q.answered.note(primary, q.clk.Now())
	return q.shadowContactAt(primary, dbID, DiscardMark{Mark: mark, DB: dbID}, discards, true, false, false)
}

// ShadowPresented records what a session with a primary learned without
// completing a discard query, in one commit with its consequences: the
// database id of its XSHADOW reply (W-6; another id than the stored one
// takes every copy over, SR-7) and the notifications of the batches read
// before it broke (applied, SR-3: the primary forgot them when asked for
// the next batch). It is not a contact: the heartbeat timer of SR-5
// (LastContact) and a takeover done stay as they are, so that sessions
// which never complete a discard query cannot keep the heartbeat from
// falling due while a committed discard waits at the primary.
//
// An id equal to the stored one is still an answer of the primary for
// the takeover decision (answered.go): only the server holding the
// database the copies were made against presents its id, which is a
// secret of the transport servers, so the primary is alive with its
// queue, and a heartbeat that began before the reply and fails takes
// nothing over (ShadowHeartbeatFailed, rt35 F6). The failures already
// counted are forgotten too, and the next heartbeat is due a timeout
// after the reply (alive.go, rt36 F2).
func (q *Manager) ShadowPresented(primary, dbID string, discards []string) (ContactResult, error) {
	return q.ShadowPresentedMarked(primary, dbID, 0, discards)
}

// ShadowPresentedMarked is ShadowPresented for discards listed by a
// reply that presented the primary's rollback mark (0 for none), as
// ShadowContactMarked.
func (q *Manager) ShadowPresentedMarked(primary, dbID string, mark uint64, discards []string) (ContactResult, error) {
	return q.shadowPresentedAt(primary, dbID, DiscardMark{Mark: mark, DB: dbID}, discards)
}

// shadowPresentedAt is ShadowPresented with the mark the discards were
// made under (at).
func (q *Manager) shadowPresentedAt(primary, dbID string, at DiscardMark, discards []string) (ContactResult, error) {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	if dbID == "" && len(discards) == 0 {
		return ContactResult{}, nil
	}
	if dbID != "" {
		q.shadowOwnedAgain(primary) // its XSHADOW let this server in (disowned.go)
	}
	return q.shadowContactAt(primary, dbID, at, discards, false, false, false)
}

// ShadowHeldDone applies a primary's answer to XQUERYHELD (heldquery.go:
// done, the ids asked that it is done with) as ShadowPresented applies
// discards, to the copies still held only: a recipient taken over since
// the question was listed — by this very session's XSHADOW reply (a new
// database, a rollback mark: an older file of the same database, whose
// id is the stored one), or by another session meanwhile — is left as
// it is. The answer is about records the primary has: one that lost
// the message answers "done" for it, and the copy taken over for that
// is the only one left (the rule of takenUnderOther covers a new
// database id only; a rolled-back primary presents its old one).
func (q *Manager) ShadowHeldDone(primary, dbID string, done []string) (ContactResult, error) {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	if dbID == "" && len(done) == 0 {
		return ContactResult{}, nil
	}
	if dbID != "" {
		q.shadowOwnedAgain(primary) // its XSHADOW let this server in (disowned.go)
	}
	return q.shadowContactAt(primary, dbID, DiscardMark{}, done, false, false, true)
}

// sameOnly (ShadowPrimaryPresentedHere): only a dbID equal to the stored
// one is recorded; any other changes nothing.
func (q *Manager) shadowContact(primary, dbID string, discards []string, queried, sameOnly bool) (ContactResult, error) {
	return q.shadowContactAt(primary, dbID, DiscardMark{}, discards, queried, sameOnly, false)
}

// DiscardMark is the rollback mark a primary presented with the discards
// a session applies, and the database id it is of: the XQUERYDISCARD
// reply's MARK= that listed them (read at the primary before the
// discards it lists were read: a copy committed after is above it), or for XDISCARD the MARK=<n> DB=<id> of the push
// session's XSHADOW (read before the discards it carries). The zero
// value: none was presented. An early discard is kept under it
// (AddEarlyDiscard, earlystale.go).
type DiscardMark struct {
	Mark uint64
	DB   string
}

// shadowContactAt is shadowContact with the mark the discards were made
// under (at); heldOnly: discards is an answer to XQUERYHELD, which
// settles no taken-over recipient (ShadowHeldDone).
func (q *Manager) shadowContactAt(primary, dbID string, at DiscardMark, discards []string, queried, sameOnly, heldOnly bool) (ContactResult, error) {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	now := q.clk.Now()
	if queried && len(discards) == 0 && q.contactNeedsNoWrite(primary, dbID, now) {
		return ContactResult{}, nil
	}
	if !queried && len(discards) == 0 && q.presentedNeedsNoWrite(primary, dbID) {
		q.answered.note(primary, now)
		return ContactResult{}, nil
	}
	var res ContactResult
	var taken, gone, back, given []*Message
	var heldBack []ID // of back, messages an operator's hold held here
	var settled []partialSettled
	var left map[string]int // recipients the discards settled, by queue (applyDiscardsTx)
	// The taken-over copies only waiting for a window's slot go back
	// as Ready ones do, if this commit gives back (rt47 F1a).
	ws := q.withdrawTakenWaiting(primary, dbID)
	withdrawn := make(map[ID]bool, len(ws))
	for id := range ws {
		withdrawn[id] = true
	}
	// Discards and takeovers free room or keep mail: through the space
	// reserve on a full disk (spacereserve.go).
	err := q.store.UpdateFreeing(context.Background(), "the contact of primary "+primary, func(tx *Tx) error {
		res, taken, gone, back, settled, given, left = ContactResult{}, taken[:0], gone[:0], back[:0], settled[:0], given[:0], map[string]int{}
		heldBack = heldBack[:0]
		tx.withdrawn = withdrawn
		if !sameOnly { // sameOnly records only the stored id
			if err := q.refuseDatabaseOfAnotherTx(tx, primary, dbID); err != nil {
				return err // another primary's database id (rt17f-F1)
			}
		}
		p, err := tx.Peer(primary)
		if err != nil {
			return err
		}
		if p == nil {
			if sameOnly {
				return nil
			}
			p = &ShadowPeer{Primary: primary}
		}
		if sameOnly && (p.DatabaseID == "" || dbID != p.DatabaseID) {
			return nil
		}
		if !queried && p.DatabaseID != "" && dbID == p.DatabaseID {
			q.answered.note(primary, now) // the primary with its queue answered
		}
		if p.DatabaseID != "" && dbID != "" && dbID != p.DatabaseID {
			res.OldDatabaseID = p.DatabaseID
			reason := fmt.Sprintf("it returned with a new transport database (%s, was %s)", dbID, p.DatabaseID)
			var marked int
			if taken, marked, err = tx.takeoverTx(primary, reason, now); err != nil {
				return err
			}
			res.TakenOver = len(taken) + marked
			if res.Retried, err = tx.newDatabaseTx(p, now); err != nil {
				return err
			}
		}
		if len(discards) > 0 {
			tx.heldOnly = heldOnly // an answer to XQUERYHELD: held copies only (settlesNot)
			tx.presenting = dbID   // discards settle only copies made under it (takenUnderOther)
			if dbID == "" {
				tx.presenting = p.DatabaseID // no XSHADOW here: the stored id is the one presented last
			}
			tx.discardAt = at // an early discard is kept under the mark it was made under (AddEarlyDiscard)
			if res.Discarded, gone, settled, err = q.applyDiscardsTx(tx, primary, discards, now, &given, left); err != nil {
				return err
			}
		}
		stored := p.DatabaseID
		if dbID != "" {
			p.DatabaseID = dbID
		}
		if !queried {
			if stored != "" && dbID == stored {
				resetFailuresTx(p, now) // the real primary answered (alive.go)
				// Back with the database its copies were taken over
				// from, on whatever session — a relay's may come
				// before any heartbeat: the copies still waiting are
				// its own again (takenindex.go), before one of them
				// is sent to it.
				if back, err = tx.giveBackTx(p, dbID, now, &heldBack); err != nil {
					return err
				}
				res.GivenBack = len(back)
			}
			return tx.PutPeer(p)
		}
		if res.OldDatabaseID == "" {
			// Back with the database its copies were taken over from:
			// those still waiting are its own again (takenindex.go).
			if back, err = tx.giveBackTx(p, dbID, now, &heldBack); err != nil {
				return err
			}
			res.GivenBack = len(back)
		}
		if p.TakenOver || p.Failures > 0 {
			if res.Retried, err = tx.retakeDue(primary, now); err != nil {
				return err
			}
		}
		p.LastContact, p.LastTry, p.Failures, p.TakenOver = now, time.Time{}, 0, false
		return tx.PutPeer(p)
	})
	// A withdrawn copy given back ends its attempt; any other goes back
	// to its place in the window's queue.
	q.settleAll(ws, err, func(id ID) bool {
		return slices.ContainsFunc(back, func(m *Message) bool { return m.ID == id && m.State != Active })
	})
	if err != nil {
		return ContactResult{}, err
	}
	q.afterTakeover(primary, res.OldDatabaseID, taken)
	q.afterCopyGiven(primary, given)
	q.partialEvents(primary, settled)
	q.discardEvents(primary, gone)
	q.noteLeft(left)
	for _, m := range back {
		q.ev.Event("giveback", m, nil, "given back to "+primary+": it answered again with the same transport database")
	}
	if len(back) > 0 {
		q.log.Info("taken-over copies given back to their primary: it answered again with the same transport database",
			"primary", primary, "messages", len(back))
		// Held copies again, whose discards the primary commits as it
		// delivers its originals: fetched by a watch session, as after
		// a hand-off (markShadowedUrgent), not at the next heartbeat — a
		// kill -9 of the primary in between took them over again and
		// they were delivered twice (finalshadow40).
		q.markUrgent(primary)
	}
	for _, id := range heldBack {
		// rt21a M1: the hold goes to the primary with the copy (a
		// held note, heldnote.go); a primary below shadow verbs 16
		// cannot take it, and is warned of when it asks.
		q.log.Warn("taken-over copy held by the administrator given back to its primary: the hold goes with it, the primary holds its original when it next asks this server (shadow verbs 16; an older primary delivers it)",
			"msg_id", id.String(), "primary", primary)
	}
	if res.Retried > 0 || len(taken) > 0 {
		q.Kick()
	}
	return res, nil
}

// DatabaseDigest is what a server advertises of its transport database
// id before a session logs in (the EHLO keyword XSHADOWDB, package smtp):
// the first 16 bytes of its SHA-256, in hex. It tells a shadow server
// whose login the primary refuses that the primary has another database
// (ShadowPresentedDigest) without giving the id itself to whoever
// connects: the id is what a session must present in its XSHADOW reply
// before its discards and reconciliation answers are applied, so it
// stays a secret of the transport servers.
func DatabaseDigest(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:16])
}

// ShadowPresentedDigest records the database digest a primary advertised
// in a session that did not get as far as its XSHADOW reply (its login or
// XSHADOW was refused): when the stored database id has another digest,
// the primary lost its queue, and every copy held for it is taken over at
// once (SR-7), in one commit. Nothing else changes: not the stored id
// (the digest does not give the new one; the primary's next push or
// accepted session brings it), not the heartbeat timer, not the failures.
// A primary whose id is not known yet, or the same digest, changes
// nothing and costs no write; the same digest is reported
// (SameDatabase: the shadow manager takes only a refusal presenting it
// for the primary's).
func (q *Manager) ShadowPresentedDigest(primary, digest string) (ContactResult, error) {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	if digest == "" {
		return ContactResult{}, nil
	}
	differs := func(tx *Tx) (*ShadowPeer, bool, error) {
		p, err := tx.Peer(primary)
		if err != nil || p == nil || p.DatabaseID == "" {
			return p, false, err
		}
		return p, DatabaseDigest(p.DatabaseID) != digest, nil
	}
	changed, same := false, false
	if err := q.store.View(func(tx *Tx) error {
		p, d, err := differs(tx)
		changed, same = d, err == nil && p != nil && p.DatabaseID != "" && !d
		return err
	}); err != nil || !changed {
		return ContactResult{SameDatabase: same}, err
	}
	now := q.clk.Now()
	var res ContactResult
	var taken []*Message
	err := q.store.UpdateFreeing(context.Background(), "the takeover of primary "+primary, func(tx *Tx) error {
		res, taken = ContactResult{}, taken[:0]
		p, d, err := differs(tx)
		if err != nil || !d {
			return err
		}
		reason := fmt.Sprintf("it returned with a new transport database (digest %s, was %s)", digest, p.DatabaseID)
		var marked int
		if taken, marked, err = tx.takeoverTx(primary, reason, now); err != nil {
			return err
		}
		res.OldDatabaseID, res.TakenOver = p.DatabaseID, len(taken)+marked
		return nil
	})
	if err != nil {
		return ContactResult{}, err
	}
	q.afterTakeover(primary, res.OldDatabaseID, taken)
	return res, nil
}

// contactEvery bounds how often a contact that changes nothing but the
// last contact time is written: sessions with a busy primary (and quick
// polls) would otherwise cost a commit each. A last contact older by up
// to this much after a crash only brings the next heartbeat forward.
const contactEvery = time.Second

// contactNeedsNoWrite reports whether a contact without discards would
// change nothing but a last contact time less than contactEvery old.
func (q *Manager) contactNeedsNoWrite(primary, dbID string, now time.Time) bool {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	same := false
	_ = q.store.View(func(tx *Tx) error {
		p, err := tx.Peer(primary)
		same = err == nil && p != nil && (dbID == "" || dbID == p.DatabaseID) && p.Failures == 0 && !p.TakenOver &&
			p.LastTry.IsZero() && now.Sub(p.LastContact) < contactEvery && !now.Before(p.LastContact)
		return nil
	})
	return same
}

// presentedNeedsNoWrite reports whether the database id presented is
// the one stored (nothing to record).
func (q *Manager) presentedNeedsNoWrite(primary, dbID string) bool {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	same := false
	_ = q.store.View(func(tx *Tx) error {
		p, err := tx.Peer(primary)
		same = err == nil && p != nil && dbID == p.DatabaseID && p.Failures == 0 && !tx.mayGiveBack(primary, dbID)
		return nil
	})
	return same
}

// ContactResult is what ShadowContact changed.
type ContactResult struct {
	// OldDatabaseID is set when the primary presented a new database id.
	OldDatabaseID string
	TakenOver     int // copies taken over because of it
	Discarded     int // discard notifications applied
	Retried       int // taken-over copies made due again
	// GivenBack: messages whose copies taken over for failed heartbeats
	// became held copies again — the primary answered with the database
	// they were taken over from (takenindex.go).
	GivenBack int
	// SameDatabase (ShadowPresentedDigest): the digest is the one of the
	// stored database id — the server that presented it is the primary
	// the copies were made against.
	SameDatabase bool
}

// ShadowHeartbeatFailed records a failed heartbeat that started at
// started, in one commit with its consequence: at retries consecutive
// failures every copy held for the primary is taken over (SR-6). The
// primary stays watched while copies of it are here.
//
// A heartbeat that failed although the primary completed a session with
// this server after it began (a discard query, a reconciliation, a copy
// it pushed, an XSHADOW reply with the stored database id: answered.go)
// is no failure: the primary is alive (it was
// stopped, or slow, while the heartbeat waited). Nothing is written or
// taken over, and the answer is ErrAnsweredSince with the failures as
// they stand. The check runs in the commit that would take the copies
// over, so a session recorded before that commit always prevents it.
//
// Nor is anything taken over less than timeout × retries after the last
// contact of any kind (answeredAt.last: the start of this manager when
// none came since): a contact that is no discard query leaves the
// heartbeat schedule as it is (SR-5: only a completed discard query moves
// it), so a primary that dies just after such a contact can fail its
// retry count of heartbeats sooner (rt F0: 6.3 s after its push with
// 5 s × 2). The failure is counted, and the answer is
// ErrTakeoverDeferred; the next failed heartbeat past the bound takes
// the copies over. A timeout of 0 sets no bound. When the copies were
// taken over before (this server restarted since: its start is a
// contact), the answer is ErrTakenOverAlready instead.
func (q *Manager) ShadowHeartbeatFailed(primary string, started time.Time, timeout time.Duration, retries int, reason string) (failures, takenN int, err error) {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	now := q.clk.Now()
	var taken []*Message
	answered, deferred, already, disowned := false, false, false, false
	// The takeover is what lets the copies be delivered, which frees
	// room: through the space reserve on a full disk (spacereserve.go,
	// rt42 F2).
	err = q.store.UpdateFreeing(context.Background(), "the failed heartbeat of primary "+primary, func(tx *Tx) error {
		taken, takenN, answered, deferred, already, disowned = taken[:0], 0, false, false, false, false
		p, err := tx.Peer(primary)
		if err != nil {
			return err
		}
		if p == nil {
			p = &ShadowPeer{Primary: primary}
		}
		if q.answered.since(primary, started) {
			answered, failures = true, p.Failures
			return nil
		}
		// The count stands once it reached the retry count: at the one
		// that made the takeover (shadowrt35 F3), or deferred it (rt47:
		// the deferred failure's WARN said "failures=3 of=3", the
		// takeover by the next one "4 heartbeats failed") — shadow
		// list's FAILED HEARTBEATS, its WHY, the WARN, the takeover's
		// log line and event and every later "still unreachable" line
		// say one number, never 6 beside "4 heartbeats failed". LAST
		// CONTACT says how long it has failed. After a contact (a push)
		// it counts again. A primary that disowned this server is
		// taken over never: its failures are counted on.
		if p.Failures < retries || !p.TakenOver && tx.disownedBy(primary) != "" {
			p.Failures++
		}
		p.LastTry = started
		failures = p.Failures
		if tx.disownedBy(primary) != "" {
			disowned = true // counted; its refusal stands (disowned.go)
		} else if p.Failures >= retries && now.Sub(q.answered.last(primary)) < time.Duration(retries)*timeout {
			deferred = true // counted; the next failure past the bound takes over
			already = p.TakenOver
		} else if p.Failures >= retries && q.RestoredAskPending() {
			// A restored database first hears which copies its
			// predecessor handed on (restoredhanded.go): counted; the
			// next failure after the answers (or their bound) takes over.
			deferred = true
			already = p.TakenOver
		} else if p.Failures >= retries {
			var marked int
			why := fmt.Sprintf("%d heartbeats failed, the last: %s", p.Failures, reason)
			if taken, marked, err = tx.takeoverGiveBackTx(primary, why, takenValue(p.DatabaseID, true), now); err != nil {
				return err
			}
			takenN = len(taken) + marked
			// A later failed heartbeat runs the takeover again, which
			// changes only copies still shadowed; the count stays at
			// the one that made the takeover (above), kept with the
			// primary's record (shadow list's WHY says it, as the
			// takeover's log line does: rt16a F2). The next contact
			// resets both.
			if !p.TakenOver || p.TakeoverFailures == 0 || p.Failures < p.TakeoverFailures {
				// (the last: counted again after a contact, the takeover
				// run again at a lower count says that one)
				p.TakeoverFailures = p.Failures
			}
			p.TakenOver = true
		}
		return tx.PutPeer(p)
	})
	if err != nil {
		return 0, 0, err
	}
	if answered {
		return failures, 0, ErrAnsweredSince
	}
	if disowned {
		return failures, 0, ErrDisowned
	}
	if deferred && already {
		return failures, 0, ErrTakenOverAlready
	}
	if deferred {
		return failures, 0, ErrTakeoverDeferred
	}
	// The tracking event says the count, in the words of the takeover's
	// log line and of shadow list (rt16a F2).
	q.afterTakeoverWhy(primary, fmt.Sprintf("%s: %d heartbeats failed", primary, failures), taken)
	return failures, takenN, nil
}

// logTakeover logs the WARN summary of a takeover the queue made on a
// path no shadow manager session reports (a restored primary's question,
// a push under a new database id): "took over shadow copies", the
// primary, the count and the reason, as the shadow manager logs those of
// failed heartbeats and of a session's new database id — every takeover
// says so at WARN, whichever path made it (sites47 F4) — and counts it
// (ManagerConfig.Takeovers), as the shadow manager counts those it logs:
// a takeover the log shows and the counter misses escaped an alert on
// the counter (receipt48 item 5). With nothing taken over (n 0: no copy
// was held for the primary) it is no takeover, and neither the WARN nor
// the counter must fire: an INFO says the primary presented a new
// database (shadowout48 F2).
func (q *Manager) logTakeover(primary string, n int, reason string, args ...any) {
	if n == 0 {
		q.log.Info(NothingTakenOver, append([]any{"primary", serverKey(primary), "reason", reason}, args...)...)
		return
	}
	q.log.Warn("took over shadow copies", append([]any{"primary", serverKey(primary), "messages", n, "reason", reason}, args...)...)
	if q.cfg.Takeovers != nil {
		q.cfg.Takeovers(n)
	}
}

// NothingTakenOver is the INFO line of a primary that presented a new
// transport database while no shadow copy was held for it: no takeover
// (logTakeover; the shadow manager's sessions log the same).
const NothingTakenOver = "primary presented a new transport database; nothing was taken over: no shadow copy was held for it"

func (q *Manager) afterTakeover(primary, oldDB string, taken []*Message) {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	why := primary + ": heartbeats failed"
	if oldDB != "" {
		why = primary + ": new transport database"
		// The rollback found of the old database was that database's,
		// as its failures and takeover were (newDatabaseTx): shadow
		// list's WHY names none beside the new one.
		q.rollbackNotes.Delete(primary)
	}
	q.afterTakeoverWhy(primary, why, taken)
}

func (q *Manager) afterTakeoverWhy(primary, why string, taken []*Message) {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	for _, m := range taken {
		q.ev.Event("takeover", m, nil, why)
	}
	if len(taken) > 0 {
		if q.IsSuspended("shadow:" + primary) {
			q.log.Warn("copies taken over wait behind a suspension of their queue, the only copy of their mail: umbra queue resume shadow:"+primary,
				"primary", primary, "messages", len(taken))
		}
		q.Kick()
	}
}

// shadowExpiryGrace is how long after message_expiration an unconfirmed
// shadow copy waits before it is taken over: the primary expires its own
// copy at about the same age and sends the discard for it.
const shadowExpiryGrace = time.Hour

// expireShadowCopy handles a shadow copy whose primary never confirmed
// it within message_expiration: the recipients still shadowed are taken
// over and routed now; the attempt's commit bounces them with a DSN when
// no route takes them (the message expired). Never a silent deletion:
// those an original of this server's owes or that it finished are
// settled by it (twinoriginal.go), and a copy left with nothing goes.
// Those held for a primary keep(primary) keeps are left as they are:
// it answers and refuses this server, alive with their database, and
// owns their expiry (SetExpiryKeeper; keep nil keeps none).
func expireShadowCopy(tx *Tx, m *Message, now time.Time, keep func(primary string) bool) (bool, error) {
	changed, settled := false, false
	kept := map[string]bool{}
	for _, r := range m.Rcpts {
		if r.Status == Shadowed && keep != nil {
			k, seen := kept[r.Primary]
			if !seen {
				k = keep(r.Primary)
				kept[r.Primary] = k
			}
			if k {
				continue
			}
		}
		if r.Status == Shadowed {
			if err := tx.renewHanded(m, r.Primary, now); err != nil { // takenhanded.go
				return false, err
			}
			// A copy of a message whose original this server holds:
			// the original's recipients stay the original's, as at a
			// takeover for failed heartbeats (twinoriginal.go).
			if tx.settleByOriginalTx(m, r.Primary) {
				settled = true
			}
			if sids := takeoverRcpts(m, r.Primary, "the primary never confirmed the copy before it expired"); len(sids) > 0 {
				// The database its copy was made against, never given
				// back (takenindex.go); written before the Put, which
				// keeps it.
				if err := tx.markTaken(r.Primary, m.ID, sids, takenValue(tx.peerDatabase(r.Primary), false)); err != nil {
					return false, err
				}
				changed = true
			}
		}
	}
	if settled && nothingLeft(m) {
		return false, tx.Delete(m.ID)
	}
	if !changed {
		if settled {
			return false, tx.Put(m)
		}
		return false, nil
	}
	m.State, m.NextAttempt = Ready, now
	return true, tx.Put(m)
}

// shadowTransitions runs in the commit of an attempt's results: it
// records the primary of each copy made now (notePeer), takes a copy
// back at once when the primary's stored database id differs from the
// one it was made against (the primary was replaced while the attempt
// ran), and applies the takeovers kept aside while m was in delivery.
// A copy a job's own commit made (early, jobcommit.go) had its primary
// noted there: only its database is judged again here.
// It reports whether any recipient was taken over, and returns what to
// run once the commit returned (nil: nothing): the warning of a next
// hop's database id kept as another server's, logged once per process
// for that hop, address and id (refusedNextHops) — the id is not
// recorded, so every later relay to the hop meets it again, and the
// commit's function may run more than once (a retried commit,
// pendingresults.go).
func (q *Manager) shadowTransitions(tx *Tx, m *Message, results []Result, early map[int]Result, now time.Time) (bool, func(), error) {
	took := false
	fresh := map[int]bool{}       // copies made by this attempt: judged by their database id
	var back map[int]string       // copies given back by it, with the database the primary presented
	var checked map[string]string // primary NUL address NUL id → the server this server keeps the id as ("": none)
	var refused []refusedNextHop  // the checks of checked that found another server's
	for _, r := range results {
		if r.Outcome != ShadowedOK && r.Outcome != GivenBack || r.Rcpt < 0 || r.Rcpt >= len(m.Rcpts) {
			continue
		}
		rc := &m.Rcpts[r.Rcpt]
		if rc.Status != Shadowed || rc.Primary != r.Primary {
			continue
		}
		if r.Outcome == GivenBack && !tx.mayGiveBackCopy(r.Primary, m.ID, rc.ShadowID, r.PrimaryDB) {
			// The attempt's session presented a rollback mark before it
			// gave the copy back (ShadowMarkSeen, keepTakenOverTx): the
			// claim's reading is stale, the rolled-back primary does not
			// hold the original. Taken over still, never given back.
			takeoverRcpt(rc, rolledBackInDelivery)
			if err := tx.markTaken(r.Primary, m.ID, []string{rc.ShadowID}, takenValue(r.PrimaryDB, false)); err != nil {
				return false, nil, err
			}
			took = true
			continue
		}
		if r.Outcome == GivenBack {
			if back == nil {
				back = map[int]string{}
			}
			back[r.Rcpt] = r.PrimaryDB
		} else {
			fresh[r.Rcpt] = true
		}
		// A copy its job's own commit made (jobcommit.go) has its peer
		// noted: only the primary's database is judged again (replaced
		// since?).
		_, noted := early[r.Rcpt]
		other, err := q.notePrimaryTx(tx, r, !noted, &checked, &refused, now)
		if err != nil {
			return false, nil, err
		}
		if other == "" {
			continue
		}
		if sids := takeoverRcpts(m, r.Primary, other); len(sids) > 0 {
			took = true
			// Under the database the copy was made against, which the
			// primary no longer runs: never given back (takenindex.go);
			// written before the caller's Put of m, which keeps it.
			if err := tx.markTaken(r.Primary, m.ID, sids, takenValue(r.PrimaryDB, false)); err != nil {
				return false, nil, err
			}
		}
	}
	t, err := applyEarlyTakeoversBack(tx, m, fresh, back)
	return took || t, q.refusedWarning(m, refused), err
}

// notePrimaryTx is shadowTransitions for one copy made or given back by
// r: when the primary's stored database id differs from the one the copy
// was made against, it returns the takeover's reason; else, with note,
// it records the primary (notePeer), its id through the one check
// (databaseOfAnotherTx), which checked and refused keep per commit.
func (q *Manager) notePrimaryTx(tx *Tx, r Result, note bool, checked *map[string]string, refused *[]refusedNextHop, now time.Time) (string, error) {
	p, err := tx.Peer(r.Primary)
	if err != nil {
		return "", err
	}
	if p != nil && p.DatabaseID != "" && r.PrimaryDB != "" && p.DatabaseID != r.PrimaryDB {
		return fmt.Sprintf("it has another transport database (%s) than the copy was made with (%s)", p.DatabaseID, r.PrimaryDB), nil
	}
	if !note {
		return "", nil
	}
	addr := r.PrimaryAddr
	if r.PrimaryVia != "" {
		addr += " via " + r.PrimaryVia
	}
	// The next hop's database id goes through the one check
	// (databaseOfAnotherTx): one this server keeps as another
	// primary's is not recorded as this one's. The copy stays held
	// for it; its heartbeats present the id to the same check.
	// notePeer records an id only on a record without one (a
	// differing stored id was met above): the check runs only then,
	// once per primary and id in this commit, not per recipient.
	dbID := r.PrimaryDB
	if dbID != "" && (p == nil || p.DatabaseID == "") {
		k := r.Primary + "\x00" + addr + "\x00" + dbID
		other, seen := (*checked)[k]
		if !seen {
			if other, err = q.databaseOfAnotherAtTx(tx, r.Primary, addr, dbID); err != nil {
				return "", err
			}
			if *checked == nil {
				*checked = map[string]string{}
			}
			(*checked)[k] = other
			if other != "" {
				*refused = append(*refused, refusedNextHop{key: serverKey(r.Primary) + "\x00" + addr + "\x00" + dbID,
					primary: r.Primary, addr: addr, dbID: dbID, other: other})
			}
		}
		if other != "" {
			dbID = ""
		}
	}
	return "", tx.notePeer(r.Primary, addr, dbID, now)
}

// refusedWarning is what to run once a commit that met refused returned
// (nil: nothing): each warning logged once per process (refusedNextHops).
func (q *Manager) refusedWarning(m *Message, refused []refusedNextHop) func() {
	if len(refused) == 0 {
		return nil
	}
	id := m.ID.String()
	return func() {
		for _, r := range refused {
			if _, logged := q.refusedNextHops.LoadOrStore(r.key, struct{}{}); logged {
				continue
			}
			q.log.Warn("next hop's transport database id not recorded: it is another server's",
				"primary", r.primary, "addr", r.addr, "database_id", r.dbID, "known_as", r.other, "msg_id", id)
		}
	}
}

// refusedNextHop is a next hop whose database id a results commit found
// kept as another server's (shadowTransitions), for its warning.
type refusedNextHop struct {
	key                        string // lower-cased primary NUL address NUL id: refusedNextHops
	primary, addr, dbID, other string
}

// applyEarlyTakeovers applies to m the takeovers recorded while it was in
// delivery, to the copies made before (not to those of fresh, made by the
// attempt that ends now in a session with a primary that answered). Every
// commit that writes a message leaving delivery calls it (results,
// requeue, hold, poison, Recover).
func applyEarlyTakeovers(tx *Tx, m *Message, fresh map[int]bool) (bool, error) {
	return applyEarlyTakeoversBack(tx, m, fresh, nil)
}

// applyEarlyTakeoversBack is applyEarlyTakeovers for an attempt that
// also gave copies back (back: recipient → the database id its primary
// presented): a takeover kept aside for failed heartbeats of that same
// database is spent on them — the primary answered with it since, as a
// contact's give-back drops it (giveBackTx); any other still applies.
func applyEarlyTakeoversBack(tx *Tx, m *Message, fresh map[int]bool, back map[int]string) (bool, error) {
	prims, err := tx.takeEarlyTakeovers(m.ID)
	if err != nil {
		return false, err
	}
	took := false
	for _, p := range prims {
		spared := func(i int) bool { return fresh[i] || back[i] != "" && back[i] == p.giveBack }
		// A copy of a message whose original this server holds: the
		// original's recipients are the original's, as at the other
		// takeovers (twinoriginal.go); the caller's Put of m keeps them
		// settled, in the commit that applies the takeover.
		tx.settleByOriginalExceptTx(m, p.primary, spared)
		var mine []string // the copies it takes over
		for i := range m.Rcpts {
			r := &m.Rcpts[i]
			if spared(i) || r.Status != Shadowed || r.Primary != p.primary {
				continue
			}
			// Its handed notes get the takeover's time, as takeoverTx
			// and an expiry give them (renewHanded; shadow28 item 4:
			// kept aside, the takeover left them to be pruned with the
			// copy's own expiry).
			for _, n := range tx.handedNotes(r) {
				if err := tx.putHanded(r.Primary, r.ShadowID, r.Addr, n.db, n.pid, n.paddr, n.primary, p.at); err != nil {
					return false, err
				}
			}
			takeoverRcpt(r, "taken over while in delivery here")
			took = true
			if !slices.Contains(mine, r.ShadowID) {
				mine = append(mine, r.ShadowID)
			}
		}
		if len(mine) > 0 {
			// Written before the caller's Put of m, which keeps it.
			if err := tx.markTaken(p.primary, m.ID, mine, p.giveBack); err != nil {
				return false, err
			}
		}
	}
	return took, nil
}

// applyDiscardsTx is ApplyDiscards in a transaction (with the messages a
// primary gave this server, taken over, added to given: handback.go); it returns the
// messages that left the queue, and counts in left, by the queue each
// waited in (waitsIn), the recipients the discards settled: the OUT/MIN
// of those queues once the commit returned (noteLeft).
func (q *Manager) applyDiscardsTx(tx *Tx, primary string, ids []string, now time.Time, given *[]*Message, left map[string]int) (n int, gone []*Message, settled []partialSettled, err error) {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	for _, sid := range ids {
		if cid, ok := strings.CutSuffix(sid, HandBackSuffix); ok { // handback.go
			taken, marked, err := tx.takeCopyGivenTx(primary, cid, now)
			if err != nil {
				return 0, nil, nil, err
			}
			*given = append(*given, taken...)
			if len(taken)+marked > 0 {
				n++
			}
			continue
		}
		if cid, ok := strings.CutSuffix(sid, DelayNoteSuffix); ok { // delaynote.go
			applied, err := q.applyDelayNoteTx(tx, primary, cid)
			if err != nil {
				return 0, nil, nil, err
			}
			if len(applied) > 0 {
				n++
			}
			for _, m := range applied {
				settled = append(settled, partialSettled{m: m, delay: true}) // its event; no recipient left a queue
			}
			continue
		}
		if pd, ok := ParsePartialDiscard(sid); ok {
			applied, g, these, err := q.applyPartialDiscardTx(tx, primary, pd, now)
			if err != nil {
				return 0, nil, nil, err
			}
			if applied {
				n++
			}
			if g != nil {
				gone = append(gone, g)
			}
			settled = append(settled, these...)
			for _, p := range these {
				left[p.from]++
			}
			continue
		}
		hexID, _, ok := strings.Cut(sid, "-")
		id, err := ParseID(hexID)
		relay := ok && err == nil // "<local id>-…": the copy of a message relayed from here
		records := []ID{id}
		if !relay {
			// A copy on receipt is named by its org id (receiptcopy.go).
			if records = tx.receiptCopies(primary, sid); len(records) == 0 {
				if tx.heldOnly {
					// An answer to XQUERYHELD is about a copy that was
					// here when asked; gone since, no push is in flight
					// for it to settle, and kept early (under the mark
					// stored now: the answer presents none) it would
					// settle a later copy of the org id (earlymark40).
					continue
				}
				if err := tx.earlyReceiptDiscard(primary, sid, now); err != nil {
					return 0, nil, nil, err
				}
				continue
			}
		}
		counted := false
		for _, id := range records {
			m, err := tx.Get(id)
			if err != nil {
				continue
			}
			// Its recipients taken over under the old database are not
			// this one's to settle; a copy made against this one since
			// is (settlesNot).
			old := tx.takenUnderOther(primary, m.ID)
			if m.State == Active && tx.heldOnly {
				continue // not held as listed: an answer to XQUERYHELD leaves it (ShadowHeldDone)
			}
			if m.State == Active {
				// Kept aside, it settles at the attempt's commit every
				// recipient under sid (applyEarlyDiscards), taken over
				// ones too: only while none taken over under the old
				// database shares it. A copy this attempt is making
				// against the new database is on no recipient yet (its
				// ShadowedOK result is not committed): kept for that
				// commit as any such discard, or dropped here — the
				// primary forgets it — and the copy stayed shadowed
				// for a database done with it.
				if old != nil && old(sid) && takenOverUnder(m, primary, sid) {
					continue
				}
				// Still in delivery here: its ShadowedOK results are not
				// committed yet. Keep the discard for that commit —
				// counted once: a repeat of it (the primary hands it
				// again until it is acknowledged) finds it kept.
				if !tx.hasEarlyDiscard(primary, sid) {
					counted = true
				}
				if err := tx.AddEarlyDiscard(primary, sid, tx.discardAt, now); err != nil {
					return 0, nil, nil, err
				}
				continue
			}
			changed, before, twins := false, statusesNow(m), newCaseTwins(m.Rcpts)
			folds := tx.foldedAny(primary, m.OrgID) // else no fold entry to read or drop, no twin to ask for
			for i := range m.Rcpts {
				r := &m.Rcpts[i]
				// A relayed copy the primary pushed again is filed
				// under the org id (foldIntoRelayed): the relay's id
				// settles it still — while it is a copy (shadowed).
				// A recipient taken over from a copy on receipt and
				// still pending is that copy's, which the primary's
				// original may still need: a relay's discard, for a
				// record the primary made of another transaction,
				// leaves it to the org id's.
				// Of those, only the ones folded from this relay id
				// (relaySettlesFolded): another transaction's record
				// may still be pending at the primary (no entry: the
				// earlier rule). A twin (finished.go: "A@" and "a@"
				// are two mailboxes) is asked for only where an entry
				// is read.
				if settlesNot(old, r, primary) {
					continue
				}
				settles := discardSettles(r, primary, sid)
				if !settles && relay && r.Status == Shadowed && discardSettles(r, primary, m.OrgID) {
					settles = !folds || tx.relaySettlesFolded(primary, m.OrgID, r, sid, twins.of(r.Addr))
				}
				if settles {
					// A copy taken over from another primary and handed
					// to this one: noted for that primary (takenhanded.go).
					if err := tx.handedSettled(r); err != nil {
						return 0, nil, nil, err
					}
					left[waitsIn(r)]++
					r.Status, changed = Relayed, true
					if folds {
						if err := tx.dropFolded(primary, m.OrgID, r.Addr, twins.of(r.Addr)); err != nil {
							return 0, nil, nil, err
						}
					}
				}
			}
			if !changed {
				continue
			}
			counted = true
			// Its own copy elsewhere (one made again after a takeover)
			// is owed what the primary's discard settled (takensingle.go).
			if err := tx.copySettled(m, before, now); err != nil {
				return 0, nil, nil, err
			}
			if m.State != Quarantined && nothingLeft(m) { // in any state: a record with nothing left stays nowhere (shadowadmin.go)
				if err := tx.Delete(m.ID); err != nil {
					return 0, nil, nil, err
				}
				gone = append(gone, m)
			} else if err := tx.Put(m); err != nil {
				return 0, nil, nil, err
			}
		}
		if counted {
			n++
		}
		if counted && !relay {
			// Remembered: a push of this copy still on its way (its
			// reply lost, the primary's next try) is the same copy,
			// which the primary owes no second discard (earlystale.go).
			if err := tx.rememberAppliedDiscard(primary, sid, now); err != nil {
				return 0, nil, nil, err
			}
		}
	}
	return n, gone, settled, nil
}

// putLeaving writes a message leaving delivery without results
// (requeue, hold, poison, recovery after a crash) with the discards and
// takeovers kept aside meanwhile — in that order, as the commit of an
// attempt's results does.
func putLeaving(tx *Tx, m *Message) error {
	_, err := putLeavingTook(tx, m) // shadowadmin.go
	return err
}

// applyEarlyDiscards applies to m the discards its primaries sent while
// it was in delivery (kept aside, see doc.go "One writer per message").
// The primary forgot them once this server had them: one left aside
// until a later attempt — or none, for a message that leaves delivery
// without results — would keep a copy its primary finished with, to be
// taken over and sent again if that primary fails.
// One discard covers every recipient shadowed under its id: taken once,
// applied to all of them (as the commit of results does), and to those
// taken over from that copy and still pending (discardSettles). It
// reports whether it settled a pending recipient: the caller's commit
// may find nothing left to deliver. It leaves the recipients of spare
// shadowed (the commit of results: copies its attempt made that the
// discard may predate, freshCopies).
func applyEarlyDiscards(tx *Tx, m *Message, spare map[int]bool) (settledPending bool, err error) {
	early := map[[2]string]bool{}
	var by []string // the primaries whose discards settled a recipient, tracked after the commit (SR-11)
	var partial []partialEarly
	settledBy := func(primary string) {
		if !slices.Contains(by, primary) {
			by = append(by, primary)
		}
	}
	defer func() {
		if err == nil && (len(by) > 0 || len(partial) > 0) {
			tx.settledEarly = append(tx.settledEarly, settledEarly{m: m, by: by, partial: partial})
		}
	}()
	for i := range m.Rcpts {
		rc := &m.Rcpts[i]
		if !discardSettles(rc, rc.Primary, rc.ShadowID) {
			continue
		}
		k := [2]string{rc.Primary, rc.ShadowID}
		e, seen := early[k]
		if !seen {
			var err error
			if e, err = tx.TakeEarlyDiscard(rc.Primary, rc.ShadowID); err != nil {
				return false, err
			}
			early[k] = e
		}
		if e && !spare[i] {
			if err := tx.handedSettled(rc); err != nil { // takenhanded.go
				return false, err
			}
			settledPending = settledPending || rc.Status == Pending
			rc.Status = Relayed
			settledBy(rc.Primary)
			continue
		}
		// A partial discard kept aside for this recipient
		// (partialdiscard.go): the same, for its address alone.
		if spare[i] {
			continue
		}
		if pe, err := tx.TakeEarlyDiscard(rc.Primary, earlyPartialID(rc.ShadowID, rc.Addr)); err != nil {
			return false, err
		} else if pe {
			if err := tx.handedSettled(rc); err != nil { // takenhanded.go
				return false, err
			}
			settledPending = settledPending || rc.Status == Pending
			rc.Status = Relayed
			partial = append(partial, partialEarly{primary: serverKey(rc.Primary), rc: *rc})
		}
	}
	return settledPending, nil
}

// freshCopies returns the recipients an attempt's results made shadowed
// that a discard kept aside during the attempt must not settle. It
// matters for copies made at a primary below shadow verb version 8, one
// shadow id per message and primary; a version-8 primary's copies have
// an id per transaction (copyid.go), which two copies never share. The
// primary writes a discard for (this server, id) when none of its records
// under that id still needs the copy (siblingcopy.go) — but a record the
// attempt made there after the discard was written, and before it was
// fetched here, shares the id: a copy made by this attempt when the
// message already held a copy under that id (its recipients relayed
// there by an earlier attempt: a 452 at RCPT), or by two of this
// attempt's jobs (two destinations served by that primary). Those new
// copies stay; the primary's next discard, or its answer to XQUERYHELD,
// settles them. The usual case — one transaction to the primary, no
// older copy — is settled by the discard at once. before is each
// recipient's status as the attempt began.
func freshCopies(m *Message, results []Result, before []RcptStatus) map[int]bool {
	type key struct{ primary, sid string }
	made := map[key][]int{}
	queues := map[key]map[string]bool{}
	for _, r := range results {
		if r.Outcome != ShadowedOK || r.Rcpt < 0 || r.Rcpt >= len(m.Rcpts) {
			continue
		}
		k := key{r.Primary, r.ShadowID}
		made[k] = append(made[k], r.Rcpt)
		if queues[k] == nil {
			queues[k] = map[string]bool{}
		}
		queues[k][r.Queue] = true
	}
	var spare map[int]bool
	for k, idx := range made {
		older := false
		for i, rc := range m.Rcpts {
			if i < len(before) && before[i] == Shadowed && rc.Primary == k.primary && rc.ShadowID == k.sid {
				older = true
				break
			}
		}
		if !older && len(queues[k]) < 2 {
			continue
		}
		if spare == nil {
			spare = map[int]bool{}
		}
		for _, i := range idx {
			spare[i] = true
		}
	}
	return spare
}

// discardSettles reports whether primary's discard notification for the
// shadow id sid settles r: a copy shadowed under that id, or one taken
// over from it and not handed on yet (pending, whatever holds it here:
// its retry time, an operator's hold of the message, a suspension of
// its route's queue, a redirect). The primary finished the original —
// delivered, relayed, failed with its DSN, held or removed by its
// operator — so the copy is no longer owed: sending it would be a
// duplicate (or deliver a message its operator holds or removed).
func discardSettles(r *Recipient, primary, sid string) bool {
	return (r.Status == Shadowed || r.Status == Pending) && r.Primary != "" && r.ShadowID != "" &&
		r.Primary == primary && r.ShadowID == sid
}
