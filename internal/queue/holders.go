package queue

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Shadow holders: the primary's side of a shadow server's lost database
// (rt23 NEW-4). A message this server is primary for names, in
// ShadowServer, the server that keeps its shadow copy: the one it pushed
// the copy to on receipt (SR-17), or the one it was relayed from in a
// shadow session (SR-2). That server may lose its database — a wiped
// data_dir, or umbra db restore of an older backup — and come back with
// a new transport database id (SR-7): the copies it held for this server
// are gone (or some are, for a restore), and nothing there asks for them
// again. So this server remembers, per holder, the database id it last
// met (bucket holders; the XSHADOW reply of every session it opens to
// the holder: a push on receipt, a probe; and the id a holder relaying
// here presents at XSHADOW, before that session's first message), and
// the commit that finds
// another id marks every message still pending here whose copy was on
// that holder as held by this server only (bucket singlecopy). A marked
// message's copy is made again (pushed on receipt to the holder or
// another candidate by the same preference, ShadowRecopied), and the mark
// goes; while it cannot be, the message stays marked: shown by shadow
// list and message show, counted in the metrics, logged.
//
// The first id met for a holder is recorded as its id; copies the holder
// lost before that first meeting cannot be told apart (an upgrade, or a
// holder that lost its disk between a relay to this server and this
// server's first probe of it, less than one probe interval).

// SingleCopy is a message held by this server only (singlecopy): its copy
// on Lost went with that server's database, or could not be made; Lost
// is "" for a message accepted with no shadow copy (no shadow server
// took a session at receipt: Message.NoCopy).
type SingleCopy struct {
	ID    ID
	Lost  string    // the server the copy was on, or was meant for
	Since time.Time // when it was found so
	// Refused is the reply of the latest server that refused the copy
	// ("hub4: 452 4.3.1 …"; MarkSingleCopy, RecopyRefused): the copy was
	// not lost, it could not be made. "" when none did.
	Refused string
	// How is what befell the copy on Lost when it is known: HowRemoved
	// (its holder's administrator removed it), HowDamaged (its holder
	// set aside a damaged copy there), HowRolledBack (its holder keeps
	// no record of it: keptcopy.go); "" for a copy lost with its
	// holder's database.
	How string
	// TakenOver: the message was a shadow copy taken over from Lost
	// (How is HowTaken, takensingle.go); this server's disk is its only
	// one known.
	TakenOver bool
	// Held is the server that stores the copy made again while the
	// message was in delivery (heldPrefix): not held by this server only
	// any more; the record names it after the attempt. "" for none.
	Held string
	// MayHold: a push of its copy got no confirmation once the copy may
	// have reached the server (HowNoReply, HowPushCut, or another server
	// the mark lists as pushed unconfirmed, or one a discard of its copy
	// is owed to and not fetched yet: mayHoldTx): a second copy may exist.
	// Not "held by this server only" to an operator — its own state in
	// shadow single, the metrics (umbra_shadow_unconfirmed_copy_messages)
	// and the tracking log ("copy-unconfirmed"), receipt48 item 2 — and
	// made again all the same, each such server owed its discard.
	MayHold bool
}

// singleMayHold reports whether mark v says a copy may exist on a server
// its push got no confirmation from (SingleCopy.MayHold).
func singleMayHold(v []byte) bool {
	if how := singleHow(v); how == HowNoReply || how == HowPushCut {
		return true
	}
	_, _, pushed, ok := singleMark(v)
	return ok && len(pushed) > 0
}

// mayHoldTx is singleMayHold for message m's mark v, and also true when
// a discard of m's copy (its org id) is owed to a server other than the
// one the mark names and not fetched yet: that server was pushed the
// copy and may hold it until it fetches the discard (UnconfirmedPushes,
// shadow single's "also pushed, unconfirmed"). The mark, the gauges and
// the tracking event judge by it, as shadow single's sections do: a
// message listed unconfirmed there and counted held by this server only
// by umbra_shadow_single_copy_messages told the operator two things.
func (t *Tx) mayHoldTx(m *Message, v []byte) bool {
	if singleMayHold(v) {
		return true
	}
	if m == nil || m.OrgID == "" {
		return false
	}
	lost, _, _, _ := singleMark(v)
	b := t.tx.Bucket(bucketDiscards)
	if b == nil {
		return false
	}
	c := b.Cursor()
	for k, _ := c.First(); k != nil; {
		i := bytes.IndexByte(k, 0)
		if i < 0 {
			k, _ = c.Next()
			continue
		}
		server := string(k[:i])
		if !sameServer(server, lost) && b.Get(discardKey(server, m.OrgID)) != nil {
			return true
		}
		k, _ = c.Seek(append([]byte(server), 1)) // the next server's first
	}
	return false
}

// UnconfirmedCopyCount is how many of the messages SingleCopyCount
// counts may have a copy on a server whose push was not confirmed
// (SingleCopy.MayHold): counted apart from those held by this server
// only (umbra_shadow_unconfirmed_copy_messages). A walk of the marks,
// which are few.
func (q *Manager) UnconfirmedCopyCount() int {
	n := 0
	_ = q.store.View(func(tx *Tx) error {
		b := tx.tx.Bucket(bucketSingle)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			if len(k) != 8 || countsSingle(v) != 1 {
				return nil
			}
			m, err := tx.Get(ID(beUint64(k)))
			if err != nil {
				m = nil // judged by the mark alone
			}
			if tx.mayHoldTx(m, v) {
				n++
			}
			return nil
		})
	})
	return n
}

// HeldOnlyCount is SingleCopyCount less UnconfirmedCopyCount: the
// messages no other server may hold a copy of
// (umbra_shadow_single_copy_messages).
func (q *Manager) HeldOnlyCount() int {
	return max(0, q.SingleCopyCount()-q.UnconfirmedCopyCount())
}

// What befell a copy its holder told of (droppedcopy.go), or the
// primary a taken-over copy came from (takensingle.go).
const (
	HowRemoved = "removed"
	HowDamaged = "damaged"
	HowTaken   = "taken-over"
	// HowHeld and HowQuarantined: this server's own hold (message
	// suspend) or quarantine discarded the copy, and its release marked
	// the message (markReleasedSingle, hold.go). A release before this
	// kind wrote the mark with none: it reads as a copy lost, as it did.
	HowHeld        = "held"
	HowQuarantined = "quarantined"
	// HowPushCut: a stop cut the push of the copy on receipt short
	// before its outcome was recorded (pushcrash.go): the server may
	// well store it — it may have answered 250, and taken it over since
	// — and it gets the copy's discard when the copy is made elsewhere.
	HowPushCut = "push cut"
	// HowNoReply: the push of the copy on receipt got no reply from
	// the server (its connection lost, or the try's bound run out,
	// once the copy may have reached it: MarkSingleCopy with no
	// reply): the server may store it, and gets its discard when the
	// copy is made elsewhere.
	HowNoReply = "no reply"
)

// howSep ends, in a mark's value, the server its copy was on and starts
// what befell the copy there (SingleCopy.How).
const howSep = "\x02"

// markSingleHow is markSingle of a copy that how befell on server.
func (t *Tx) markSingleHow(id ID, server, how string, now time.Time) error {
	return t.markSingleKind(id, server+howSep+how, now, t.keptHolders(id, server)) // unconfirmedheld.go
}

// singleHow reads what befell the copy from a mark's value ("" when
// not known).
func singleHow(v []byte) string {
	if len(v) < 8 {
		return ""
	}
	first, _, _ := strings.Cut(string(v[8:]), pushedSep)
	first, _, _ = strings.Cut(first, refusedSep)
	_, how, _ := strings.Cut(first, howSep)
	return how
}

// withHow is server with what befell its copy as the mark's value v
// says (singleHow), for a mark written again: a refusal or an
// unconfirmed push kept with it must not lose it (a taken-over copy's
// mark is found by it, takensingle.go).
func withHow(server string, v []byte) string {
	if how := singleHow(v); how != "" {
		return server + howSep + how
	}
	return server
}

func holderKey(server string) []byte { return []byte(serverKey(server)) } // holderfold.go

// ShadowHolderID returns the transport database id stored for shadow
// server server ("" when none was met yet).
func (q *Manager) ShadowHolderID(server string) (string, error) {
	var id string
	err := q.store.View(func(tx *Tx) error {
		id = string(tx.tx.Bucket(bucketHolders).Get(holderKey(server)))
		return nil
	})
	return id, err
}

// ShadowHolderSeen records dbID as the transport database id of shadow
// server server, as this server met it. When another id was stored, the
// server lost its database since: every message still pending here whose
// copy was on it is marked held by this server only, in the same commit,
// and their count is returned with the old id. An empty dbID changes
// nothing. A dbID this server keeps as another server's (the one check,
// databaseOfAnotherTx: a retired id too), or the id recorded for a
// shadow server of another name (rt20c-F1: a topology that spells the
// server anew), is refused with a *DatabaseOfAnotherError and changes
// nothing else (rt18d-F1): an id recorded for another shadow server's
// name makes server an alias of that database, committed with the
// refusal, whose counter its copies raise (marks.go); a refusal of an
// alias already recorded is read-only. The alias goes when server
// presents an id of its own again (recorded for it, or new).
func (q *Manager) ShadowHolderSeen(server, dbID string) (lost int, old string, err error) {
	return q.ShadowHolderSeenStated(server, "", dbID)
}

// ShadowHolderSeenStated is ShadowHolderSeen for a server that stated
// stated as its own name (XSHADOW NAME, shadow verbs 20; the server id
// of a session it opened here; "" when it stated none). The topology
// decides whose id it is (shadow26 item 4): a name that is no server of
// the topology is not recorded as a server's id (WARN naming it), and an
// id recorded under a name that is no server of the topology any more
// (a typo present from the very first contact, since fixed), presented
// by a server of the topology stating that it is server, when the id
// was recorded under that name from a server that stated server's name
// then (holderMovable: the link between the two names; a server briefly
// out of the topology keeps its id), moves to server in one commit: the typo's record and index entry go, its name becomes
// an alias of the database (its copies raise that database's counter
// and go with it, marks.go, holdernames.go), and a WARN names both. A
// name that is a server of the topology, or a server that states no
// name or another one (a rename introduced since: the first name keeps
// the id), is refused as before.
func (q *Manager) ShadowHolderSeenStated(server, stated, dbID string) (lost int, old string, err error) {
	if server == "" || dbID == "" {
		return 0, "", nil
	}
	if known, topo := q.topologyKnows(server); topo && !known {
		// Once per name and id in a process (rt42b F1): a shadow server
		// this server dials by a name the topology does not list meets
		// it at every session. A primary a reload took out of the
		// topology, let in by its held record (smtp departed.go), is no
		// shadow server: its sessions do not come here (rt44-shadow4
		// F3). The names come from the topology's own dialling: the set
		// stays small.
		if _, seen := q.notTopologyWarned.LoadOrStore(serverKey(server)+"\x00"+dbID, struct{}{}); !seen {
			q.log.Warn("shadow server's transport database id not recorded: the name is no server of the topology",
				"shadow_server", server, "stated_name", stated, "database_id", dbID)
		}
		return 0, "", nil
	}
	claims := stated != "" && sameServer(stated, server)
	moved := ""
	var same bool
	var refused error
	if err := q.store.View(func(tx *Tx) error {
		if same = string(tx.tx.Bucket(bucketHolders).Get(holderKey(server))) == dbID; same {
			// Nothing to write, the common case — but for an alias
			// the name kept while it dialled another's database: it
			// goes (the Update below); and for a name stated anew
			// (recorded: holderStatedTx).
			same = tx.holderAliasTx(server) == "" && (stated == "" || tx.holderStatedTx(server) == serverKey(stated))
			return nil
		}
		if tx.holderAliasTx(server) == dbID {
			// Refused before, its alias recorded: no write transaction
			// per session (each accepted message's copy on receipt).
			if other := tx.holderOfDB(server, dbID); other != "" && !(claims && q.holderMovable(tx, other, server, dbID)) {
				refused = &DatabaseOfAnotherError{Server: server, DatabaseID: dbID, Other: other}
			}
		}
		return nil
	}); err != nil || same || refused != nil {
		return 0, "", cmp.Or(err, refused)
	}
	now := q.clk.Now()
	err = q.store.Update(context.Background(), func(tx *Tx) error {
		lost, old, refused, moved = 0, "", nil, ""
		b := tx.tx.Bucket(bucketHolders)
		cur := string(b.Get(holderKey(server)))
		if cur == dbID {
			if stated != "" { // a name stated anew; none stated says nothing new
				if err := tx.noteHolderStatedTx(server, stated); err != nil {
					return err
				}
			}
			return tx.unaliasHolderTx(server, dbID) // its own id again (marks.go)
		}
		other := tx.holderOfDB(server, dbID)
		if other != "" && claims && q.holderMovable(tx, other, server, dbID) {
			if err := tx.moveHolderIDTx(other, dbID); err != nil {
				return err
			}
			moved, other = other, ""
		}
		var another *DatabaseOfAnotherError
		if err := q.refuseDatabaseOfAnotherTx(tx, server, dbID); err != nil && (other == "" || !errors.As(err, &another)) {
			return err // another server's database id: not this one's
		}
		if other != "" {
			// The recorded id of another shadow server (rt20c-F1): a
			// holder is named as the topology names it, now or before,
			// never by a send connector's host name, so the exception of
			// databaseOfAnotherTx for those (reaches) does not apply —
			// the same server spelt anew, or a typo, records no id. Its
			// name is kept as an alias of the database, committed, so
			// that its copies raise the database's counter (marks.go):
			// counted by the name alone they would leave the counter
			// presented to the database below what it saw, and a
			// rollback to a file from before them unseen.
			refused = &DatabaseOfAnotherError{Server: server, DatabaseID: dbID, Other: other}
			if tx.holderAliasTx(server) == dbID {
				return nil
			}
			return tx.aliasHolderTx(server, dbID)
		}
		added, err := tx.noteHolderDB(server, dbID)
		if err != nil {
			return err // the id is the server's (peerdb.go)
		}
		old = cur
		// The counter presented to the server goes on from its old
		// database's, and an alias its name kept goes (marks.go).
		if err := tx.carryHolderMarkTx(cur, dbID); err != nil {
			return err
		}
		if err := tx.unaliasHolderTx(server, dbID); err != nil {
			return err
		}
		// Names its old database was met as (a typo in the topology):
		// their copies went with it too (holdernames.go).
		aliases := tx.aliasesOfDBTx([]byte(cur), server)
		if err := b.Put(holderKey(server), []byte(dbID)); err != nil {
			return err
		}
		if err := tx.noteHolderStatedTx(server, stated); err != nil {
			return err
		}
		if added { // the bound of retired ids, in this commit (retiredbound.go)
			if err := tx.boundRetiredDBsTx(string(holderKey(server))); err != nil {
				return err
			}
		}
		if old == "" {
			return nil // first met: nothing known to be lost
		}
		var ids []ID
		tx.ForEach(func(m *Message, err error) bool {
			if err == nil && holdsCopyOnAny(m, server, aliases) {
				ids = append(ids, m.ID)
			}
			return true
		})
		held := 0
		for _, id := range ids {
			if err := tx.markSingle(id, server, now); err != nil {
				return err
			}
			if tx.heldCopy(id) != "" {
				held++ // another server holds the copy made in delivery: not lost, not made again
			}
		}
		// A copy made again on server while its message was in
		// delivery (heldPrefix) went with the old database too: the
		// mark keeps server only as one that may hold it, so the next
		// pass pushes the copy again, in delivery or not.
		again, err := tx.forgetHeldOn(server, now)
		if err != nil {
			return err
		}
		lost = len(ids) - held + again
		return nil
	})
	if err == nil && refused != nil {
		return 0, "", refused
	}
	if err == nil && moved != "" {
		q.log.Warn("shadow server's transport database id was recorded under a name that is no server of the topology now (a typo since fixed?): it is recorded under the name the topology gives that server, which it states",
			"shadow_server", server, "recorded_as", moved, "database_id", dbID)
	}
	return lost, old, err
}

// topologyKnows reports whether the topology is set (topo) and names
// server (known).
func (q *Manager) topologyKnows(server string) (known, topo bool) {
	d := q.servers.Load()
	if d == nil {
		return false, false
	}
	known, _ = (*d).ServerAtHostPort(server, "")
	return known, true
}

// holderMovable: the id dbID recorded for shadow server other may move
// to another name (ShadowHolderSeenStated): the topology is set and
// names no server other, other has no primary record here (its index
// entry is a holder's alone), and its recorded id is dbID.
func (q *Manager) holderMovable(tx *Tx, other, server, dbID string) bool {
	if known, topo := q.topologyKnows(other); !topo || known {
		return false
	}
	if p, err := tx.Peer(other); err != nil || p != nil {
		return false
	}
	// The link between the two names: the server the id was recorded
	// from under other stated server's name (dialled at other's address,
	// it answered NAME=server: a typo of the topology). Without it, a
	// server stating its own name — every session here does — could take
	// the id of a server briefly out of the topology (a copy of its data
	// dir on another host).
	if !sameServer(tx.holderStatedTx(other), server) {
		return false
	}
	return string(tx.tx.Bucket(bucketHolders).Get(holderKey(other))) == dbID
}

// moveHolderIDTx takes dbID from shadow server other (holderMovable):
// its record and its holder index entry go, and its name becomes an
// alias of dbID (marks.go), in tx; the caller records dbID under the
// name it moves to.
func (t *Tx) moveHolderIDTx(other, dbID string) error {
	key := holderKey(other)
	if err := t.tx.Bucket(bucketHolders).Delete(key); err != nil {
		return err
	}
	if err := t.noteHolderStatedTx(other, ""); err != nil {
		return err
	}
	if b := t.tx.Bucket(bucketPeerDBs); b != nil {
		k := peerDBKey(dbID, string(key))
		if v := b.Get(k); v != nil && len(v) == 0 {
			if err := b.Delete(k); err != nil {
				return err
			}
			if err := t.dropPeerDBOrder(string(key), dbID); err != nil {
				return err
			}
		}
	}
	return t.aliasHolderTx(other, dbID)
}

// holderOfDB names another shadow server than server whose recorded
// database id is dbID, or "".
func (t *Tx) holderOfDB(server, dbID string) (other string) {
	self := string(holderKey(server))
	t.tx.Bucket(bucketHolders).ForEach(func(k, v []byte) error {
		if other == "" && string(v) == dbID && string(k) != self {
			other = string(k)
		}
		return nil
	})
	return other
}

// holdsCopyOn: m needs a shadow copy (needsCopy) and names server as
// its copy's holder.
func holdsCopyOn(m *Message, server string) bool {
	return needsCopy(m) && sameServer(m.ShadowServer, server)
}

// needsCopy: m is this server's to deliver — not a shadow copy it keeps
// itself, not held by an operator or kept in the quarantine (their
// commits settled the copy: hold.go, submit.go) — has recipients
// pending, and names the server that keeps its copy.
func needsCopy(m *Message) bool {
	return m.ShadowServer != "" && needsCopyMarked(m)
}

// needsCopyMarked is needsCopy for a message marked held by this server
// only: one accepted with no shadow copy (Message.NoCopy) names no
// server and still needs one.
func needsCopyMarked(m *Message) bool {
	switch m.State {
	case Ready, Active:
	case Poison:
		if poisonCopySettled(m) {
			return false // held as a suspended message is (hold.go)
		}
	default:
		return false
	}
	return len(m.Pending()) > 0
}

// poisonCopySettled: m is in the poison queue and the commit that moved
// it there settled its shadow copy (Recover stores CopyOnRelease), as a
// suspend's does: no copy is kept for it until its resume.
func poisonCopySettled(m *Message) bool {
	return m.State == Poison && m.CopyOnRelease
}

// markedSingle reports whether message id is marked held by this server
// only.
func (t *Tx) markedSingle(id ID) bool {
	_, _, _, ok := singleMark(t.tx.Bucket(bucketSingle).Get(id.Key()))
	return ok
}

func (t *Tx) markSingle(id ID, server string, now time.Time) error {
	// the servers that may hold a copy still may; one that holds the
	// copy made again in delivery still does (unconfirmedheld.go)
	return t.markSingleKind(id, server, now, t.keptHolders(id, server))
}

// refusedSep ends, in a mark's value, the server its copy was on or
// meant for, and starts the reply of the latest server that refused the
// copy (SingleCopy.Refused).
const refusedSep = "\x01"

// pushedSep starts, in a mark's value, each server a copy of the message
// was pushed to without its confirmation (MarkSingleCopy,
// RecopyPushing before a push again): that server may store it all the
// same.
const pushedSep = "\x00"

// markSingleKind writes the mark of message id: when it was made, the
// server its copy was on or meant for, and the servers a copy was pushed
// to and not confirmed (the push broke, or was abandoned at its bound),
// which may hold it all the same.
func (t *Tx) markSingleKind(id ID, server string, now time.Time, pushed []string) error {
	v := make([]byte, 8, 8+len(server))
	binary.BigEndian.PutUint64(v, uint64(nanos(now)))
	v = append(v, server...)
	for _, p := range pushed {
		v = append(append(v, pushedSep...), p...)
	}
	return t.putMark(id.Key(), v)
}

// putMark and dropMark are the only writes of bucket singlecopy: they
// keep, in meta and in the same commit, the number of marks that name
// no holder of a copy made again while in delivery (SingleCopyCount,
// read at every scrape of the metrics: no walk of the marks). Open
// counts them again (countSingleMarks): a release before this one, or a
// restore, wrote marks without the count.
func (t *Tx) putMark(k, v []byte) error {
	b := t.tx.Bucket(bucketSingle)
	d := countsSingle(v) - countsSingle(b.Get(k))
	if err := b.Put(k, v); err != nil {
		return err
	}
	if d > 0 && len(k) == 8 {
		t.marked = append(t.marked, ID(binary.BigEndian.Uint64(k)))
	}
	return t.addSingleCount(d)
}

func (t *Tx) dropMark(k []byte) error {
	b := t.tx.Bucket(bucketSingle)
	if b == nil { // a database opened for a restore check
		return nil
	}
	d := -countsSingle(b.Get(k))
	if err := b.Delete(k); err != nil {
		return err
	}
	return t.addSingleCount(d)
}

// countsSingle: a mark's value (nil: none) counts as a message held by
// this server only unless it names a held holder (heldPrefix).
func countsSingle(v []byte) int {
	if v == nil || singleHeld(v) != "" {
		return 0
	}
	return 1
}

func (t *Tx) addSingleCount(d int) error {
	if d == 0 {
		return nil
	}
	meta := t.tx.Bucket(bucketMeta)
	n := int64(0)
	if v := meta.Get(keySingleCount); len(v) == 8 {
		n = int64(binary.BigEndian.Uint64(v))
	}
	n = max(n+int64(d), 0)
	return meta.Put(keySingleCount, binary.BigEndian.AppendUint64(nil, uint64(n)))
}

// countSingleMarks writes the count SingleCopyCount reads, in the
// commit that opens the database.
func countSingleMarks(btx *bolt.Tx) error {
	b := btx.Bucket(bucketSingle)
	if b == nil {
		return nil
	}
	n := 0
	if err := b.ForEach(func(_, v []byte) error {
		n += countsSingle(v)
		return nil
	}); err != nil {
		return err
	}
	return btx.Bucket(bucketMeta).Put(keySingleCount, binary.BigEndian.AppendUint64(nil, uint64(n)))
}

// markHead is the part of a mark's value before its pushed list, as
// stored: the server its copy was on or meant for, with what befell the
// copy (withHow) and the latest refusal (refusedSep) — what a mark
// written again keeps.
func markHead(v []byte) string {
	if len(v) < 8 {
		return ""
	}
	head, _, _ := strings.Cut(string(v[8:]), pushedSep)
	return head
}

// singleMark reads a mark's value (markSingleKind); ok false when it is
// not one. The server read is without a refusal (singleRefusal).
func singleMark(v []byte) (server string, since time.Time, pushed []string, ok bool) {
	if len(v) < 8 {
		return "", time.Time{}, nil, false
	}
	parts := strings.Split(string(v[8:]), pushedSep)
	server, _, _ = strings.Cut(parts[0], refusedSep)
	server, _, _ = strings.Cut(server, howSep)
	for _, p := range parts[1:] {
		pushed = append(pushed, strings.TrimPrefix(p, heldPrefix))
	}
	return server, time.Unix(0, int64(binary.BigEndian.Uint64(v[:8]))), pushed, true
}

// heldPrefix starts, in a mark's list of servers a copy was pushed to,
// the server that stored the copy made again while the message was in
// delivery (ShadowRecopied of an Active record, rt18b F1): it holds the
// copy, which the record does not name yet — the attempt's commit
// writes the record (one writer per message). The first listing of the
// marks that finds the message out of delivery (SingleCopies, at each
// pass) names it in the record, in its commit, without pushing the
// confirmed copy again (nameCopyHolder); meanwhile the message counts as
// held elsewhere (left out of shadow single and the metric), and every path that
// settles the mark treats the server as one of those that may hold the
// copy: it gets the discard (settleSingleMark, ShadowRecopied). A new
// database id of that server (ShadowHolderSeen) makes it such a server
// only (forgetHeldOn), the mark naming it as the server whose copy was
// lost, since then, and the copy is pushed again. A commit that writes the mark again for another reason may keep it as
// such a server only (singleMark reads the names without the prefix):
// the copy is then pushed again at the next pass, in delivery or not.
const heldPrefix = "\x03"

// singleHeld reads the server that holds the copy made again while the
// message was in delivery from a mark's value ("" for none).
func singleHeld(v []byte) string {
	if len(v) < 8 {
		return ""
	}
	parts := strings.Split(string(v[8:]), pushedSep)
	for _, p := range parts[1:] {
		if s, ok := strings.CutPrefix(p, heldPrefix); ok {
			return s
		}
	}
	return ""
}

// heldCopy is the server that holds message id's copy made again while
// it was in delivery (singleHeld of its mark), "" for none.
func (t *Tx) heldCopy(id ID) string {
	b := t.tx.Bucket(bucketSingle)
	if b == nil { // a database opened for a restore check
		return ""
	}
	return singleHeld(b.Get(id.Key()))
}

// forgetHeldOn turns every mark that names server as the holder of a
// copy made again while in delivery (heldPrefix) into one that keeps
// server only as a server that may hold it; it returns how many. The
// mark then names server as the one whose copy was lost, since now (when
// its new database was met): what the views say (shadow single, message
// show), not the server an earlier push failed on and that push's time
// (rt19f F2). A refusal kept stays.
func (t *Tx) forgetHeldOn(server string, now time.Time) (int, error) {
	b := t.tx.Bucket(bucketSingle)
	type mark struct {
		k, v []byte
	}
	var found []mark
	if err := b.ForEach(func(k, v []byte) error {
		if h := singleHeld(v); h != "" && sameServer(h, server) {
			found = append(found, mark{bytes.Clone(k), bytes.Clone(v)})
		}
		return nil
	}); err != nil {
		return 0, err
	}
	n := 0
	for _, f := range found {
		if len(f.k) != 8 { // names no message: it goes (SingleCopies drops it too)
			if err := t.dropMark(f.k); err != nil {
				return 0, err
			}
			continue
		}
		n++
		_, _, pushed, _ := singleMark(f.v) // names without the prefix
		head := server
		if r := singleRefusal(f.v); r != "" {
			head += refusedSep + r
		}
		if err := t.markSingleKind(ID(binary.BigEndian.Uint64(f.k)), head, now, pushed); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// addHeld records, in the mark of message id, server as the holder of
// the copy made again while the message was in delivery (heldPrefix):
// an earlier holder so recorded, and every server a copy was pushed to
// without confirmation, stay as servers that may hold it. Nothing when
// the message has no mark.
func (t *Tx) addHeld(id ID, server string) error {
	v := t.tx.Bucket(bucketSingle).Get(id.Key())
	_, since, pushed, ok := singleMark(v)
	if !ok {
		return nil
	}
	out := make([]string, 0, len(pushed)+1)
	for _, p := range pushed {
		if !sameServer(p, server) {
			out = append(out, p)
		}
	}
	// what befell the copy, and its refusal, stay (markHead)
	return t.markSingleKind(id, markHead(v), since, append(out, heldPrefix+server))
}

// singleRefusal reads the refusal a mark's value keeps ("" for none).
func singleRefusal(v []byte) string {
	if len(v) < 8 {
		return ""
	}
	first, _, _ := strings.Cut(string(v[8:]), pushedSep)
	_, why, _ := strings.Cut(first, refusedSep)
	return why
}

// setRefused keeps reply as the refusal of message id's copy in its
// mark, which it must have.
func (t *Tx) setRefused(id ID, reply string) error {
	b := t.tx.Bucket(bucketSingle)
	v := b.Get(id.Key())
	lost, since, pushed, ok := singleMark(v)
	if !ok {
		return nil
	}
	lost = withHow(lost, v) // what befell the copy stays
	// No separator of a mark's value inside it: the reply is the peer's.
	reply = strings.Map(func(r rune) rune {
		if r == 0 || r == 1 {
			return ' '
		}
		return r
	}, reply)
	return t.markSingleKind(id, lost+refusedSep+reply, since, pushed)
}

// addPushed marks message id as possibly held by server, to which a copy
// was pushed without confirmation: kept with its mark (made now, naming
// server, when it had none).
func (t *Tx) addPushed(id ID, server string, now time.Time) error {
	v := t.tx.Bucket(bucketSingle).Get(id.Key())
	_, since, pushed, ok := singleMark(v)
	head := markHead(v) // what befell the copy, and its refusal, stay
	if !ok {
		head, since = server, now
	}
	for _, p := range pushed {
		if sameServer(p, server) {
			return nil
		}
	}
	return t.markSingleKind(id, head, since, append(pushed, server))
}

// MarkSingleCopy marks message id held by this server only: its copy on
// server could not be made (a push on receipt that failed after the
// commit named server). The copy is tried again as for a lost one.
// refused is server's reply when it refused the copy (452 4.3.1 from a
// full disk): kept for the views (SingleCopy.Refused); a server that
// answered no does not hold the copy. "" when the push failed without a
// reply: server may hold it all the same (addPushed), and a mark made
// by it says so (HowNoReply, rcpt43 item 4).
func (q *Manager) MarkSingleCopy(id ID, server, refused string) error {
	return q.markSingleCopy(id, server, refused, true)
}

// MarkSingleCopyUntracked is MarkSingleCopy writing no "single-copy"
// event: the receipt goes on to make the copy on the next candidate,
// and a message whose copy it made there was never held by this server
// only when the receipt ended — the event, its counter and `umbra track
// --event single-copy` told of one held on one disk that was not
// (rcptmark45 item 2). The receipt calls TrackSingleCopy when it ends
// with the message held here only. A crash before that leaves the mark
// without its event; the mark itself, what the views and the copy made
// again go by, is committed here as MarkSingleCopy's is.
func (q *Manager) MarkSingleCopyUntracked(id ID, server, refused string) error {
	return q.markSingleCopy(id, server, refused, false)
}

// TrackSingleCopy writes the "single-copy" event of message id when its
// mark still stands (trackMarked): a receipt that marked it untracked
// (MarkSingleCopyUntracked) and ended with it held here only. Once per
// mark: a mark the receipt found standing already was tracked when it
// was made, and the receipt's untracked one is then no new mark.
//
// Only a mark that MarkSingleCopyUntracked made new (its commit put the
// id in Tx.marked) is tracked here, and once: one it found standing (made
// and tracked meanwhile by another path — the holder unreachable past
// the takeover bound, a copy rolled back there) wrote a second event for
// one loss (rdrcpt45).
func (q *Manager) TrackSingleCopy(id ID) {
	if _, ok := q.untrackedMarks.LoadAndDelete(id); ok {
		q.trackMarked([]ID{id})
	}
}

func (q *Manager) markSingleCopy(id ID, server, refused string, track bool) error {
	now := q.clk.Now()
	made := false
	err := q.store.Update(context.Background(), func(tx *Tx) error {
		made = false
		if !track {
			// After the writes below: not tracked at this commit,
			// and noted when new, for TrackSingleCopy.
			defer func() {
				n := len(tx.marked)
				tx.marked = slices.DeleteFunc(tx.marked, func(m ID) bool { return m == id })
				made = made || len(tx.marked) < n
			}()
		}
		if _, err := tx.Get(id); err != nil {
			if errors.Is(err, ErrNotFound) {
				return nil // delivered meanwhile: nothing to mark
			}
			return err
		}
		if err := tx.dropPushing(id); err != nil { // its outcome is known now
			return err
		}
		if refused == "" {
			if _, _, _, ok := singleMark(tx.tx.Bucket(bucketSingle).Get(id.Key())); !ok {
				// Said as what befell it (HowNoReply), not a copy
				// lost: the server may store it.
				return tx.markSingleKind(id, server+howSep+HowNoReply, now, []string{server})
			}
			return tx.addPushed(id, server, now)
		}
		if _, _, _, ok := singleMark(tx.tx.Bucket(bucketSingle).Get(id.Key())); !ok {
			if err := tx.markSingleKind(id, server, now, nil); err != nil {
				return err
			}
		}
		return tx.setRefused(id, server+": "+refused)
	})
	if err == nil && made {
		q.untrackedMarks.Store(id, struct{}{})
	}
	return err
}

// RecopyRefused records that server refused the copy of message id,
// marked held by this server only, when it was made again: its reply is
// kept for the views (SingleCopy.Refused). server holds no copy.
func (q *Manager) RecopyRefused(id ID, server, reply string) error {
	return q.store.Update(context.Background(), func(tx *Tx) error {
		return tx.setRefused(id, server+": "+reply)
	})
}

// RecopyKeptNothing records that server kept nothing of the copy of
// message id pushed to it again: it answered the push (a refusal, or a
// 421 at MAIL, RCPT, DATA or the data's end), so it is no server that
// may hold the copy (receipt42 item 2). RecopyPushing kept it in the
// mark as one, whatever the outcome; it goes from the mark's list, so
// no discard is written for it and no view names it. The caller calls
// it only for a server that held no copy of the message before that
// push (not the record's holder, not an earlier unconfirmed push, no
// discard of the copy owed to it): such a one still may. A crash
// before this commit leaves it in the list: a discard it answers "no
// copy held".
func (q *Manager) RecopyKeptNothing(id ID, server string) error {
	return q.store.Update(context.Background(), func(tx *Tx) error {
		return tx.dropPushed(id, server)
	})
}

// dropPushed takes server out of message id's mark's list of servers a
// copy was pushed to without confirmation; the holder of a copy made
// again in delivery (heldPrefix) stays. Nothing without a mark.
func (t *Tx) dropPushed(id ID, server string) error {
	v := t.tx.Bucket(bucketSingle).Get(id.Key())
	_, since, _, ok := singleMark(v)
	if !ok {
		return nil
	}
	parts := strings.Split(string(v[8:]), pushedSep)
	var kept []string
	for _, p := range parts[1:] {
		if !strings.HasPrefix(p, heldPrefix) && sameServer(p, server) {
			continue
		}
		kept = append(kept, p)
	}
	if len(kept) == len(parts)-1 {
		return nil
	}
	return t.markSingleKind(id, parts[0], since, kept)
}

// RecopyPushing is the commit before message id's copy is pushed again
// to server: it raises server's rollback mark (marks.go) and returns it,
// and, for a message still marked held by this server only, withdraws a
// discard of that copy (its org id) owed to server and not fetched yet —
// written for an earlier push to it that was abandoned (nameCopyHolder,
// settleSingleMark). Fetched after this push stored the copy, it would
// drop the copy this server is about to name (rt19f F1's other side).
// server is kept as one that may hold the copy (addPushed), so that
// whatever the push's outcome it gets the discard again once the copy is
// made elsewhere or no longer needed. A crash after this commit leaves
// the same: the mark, server in it.
func (q *Manager) RecopyPushing(id ID, server string) (uint64, error) {
	n, _, err := q.RecopyPushingNamed(id, server)
	return n, err
}

// RecopyPushingNamed is RecopyPushing that also tells whether the commit
// kept server as one that may hold the copy (named). Not named: the
// message left, or needs no copy any more (its mark settled: copied
// elsewhere, nothing pending) since the pass read it — a push made all
// the same would leave a copy on server that nothing here owes a
// discard for, so none is made (rrrcpt44).
func (q *Manager) RecopyPushingNamed(id ID, server string) (uint64, bool, error) {
	var n uint64
	var named bool
	now := q.clk.Now()
	err := q.store.Update(context.Background(), func(tx *Tx) error {
		named = false
		var err error
		if n, err = tx.bumpHolderMark(server); err != nil {
			return err
		}
		if tx.tx.Bucket(bucketSingle).Get(id.Key()) == nil {
			return nil // copied or gone meanwhile: the push names nothing
		}
		m, err := tx.Get(id)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil || m.OrgID == "" || !needsCopyMarked(m) {
			return err
		}
		if err := tx.addPushed(id, server, now); err != nil {
			return err
		}
		named = true
		if sameServer(server, m.ShadowServer) && m.ShadowID != "" && m.ShadowID != m.OrgID {
			// server still keeps the copy its record names under
			// another id (the relay's, in a shadow session) and owes
			// its discard (the hold that settled it): server folds the
			// push into that copy (foldIntoRelayed), and that discard,
			// fetched after it, would drop the copy this server is
			// about to name. Withdrawn here; written again, under that
			// id, by every end of the mark that does not name server
			// (nameCopyHolder, discardPushed: server is in the pushed
			// list).
			if err := tx.DeleteDiscards(server, []string{m.ShadowID}); err != nil {
				return err
			}
		}
		return tx.DeleteDiscards(server, []string{m.OrgID})
	})
	return n, named, err
}

// SingleCopies lists the messages held by this server only, oldest mark
// first — not one whose copy was made again while it was in delivery
// (SingleCopy.Held: held elsewhere; SingleCopyOf names the holder) — and
// settles, in one commit, the marks that need it: a message that left or
// needs no copy any more (nothing pending, held by an operator) loses
// its mark (settleSingleMark), and one out of delivery whose copy was
// made again meanwhile has the holder named in its record
// (nameCopyHolder): the copy was confirmed, it is not pushed again.
func (q *Manager) SingleCopies() ([]SingleCopy, error) {
	// The holders' pass and shadow single list the marks: the questions
	// of pushes a stop cut short left unanswered past their bound are
	// marked first (pushcrash.go).
	q.expirePushAsked(context.Background())
	var out []SingleCopy
	var settle [][]byte
	err := q.store.View(func(tx *Tx) error {
		out, settle = out[:0], settle[:0]
		c := tx.tx.Bucket(bucketSingle).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			server, since, _, ok := singleMark(v)
			if len(k) != 8 || !ok {
				settle = append(settle, bytes.Clone(k))
				continue
			}
			id := ID(binary.BigEndian.Uint64(k))
			m, err := tx.Get(id)
			if err != nil || !needsCopyMarked(m) || singleHeld(v) != "" && m.State != Active {
				settle = append(settle, bytes.Clone(k))
				continue
			}
			if singleHeld(v) != "" {
				continue // in delivery, its copy made again: named after the attempt
			}
			how := singleHow(v)
			out = append(out, SingleCopy{ID: id, Lost: server, Since: since, Refused: singleRefusal(v), How: how, TakenOver: how == HowTaken, MayHold: tx.mayHoldTx(m, v)})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(settle) > 0 {
		now := q.clk.Now()
		var released []releasedDSN
		if err := q.store.Update(context.Background(), func(tx *Tx) error {
			released = nil
			for _, k := range settle {
				if len(k) != 8 {
					if err := tx.dropMark(k); err != nil {
						return err
					}
					continue
				}
				// Read again in this commit: it may have changed since.
				v := tx.tx.Bucket(bucketSingle).Get(k)
				m, err := tx.Get(ID(binary.BigEndian.Uint64(k)))
				if _, _, _, ok := singleMark(v); err != nil || !ok {
					if err := tx.dropMark(k); err != nil {
						return err
					}
					continue
				}
				held := singleHeld(v)
				switch {
				case !needsCopyMarked(m):
					// The servers its mark names as ones that may hold a
					// copy get the discard, as any end of a mark writes it.
					err = tx.settleSingleMark(m, now)
				case held != "" && m.State != Active:
					err = tx.nameCopyHolder(m, held, now)
				}
				if err != nil {
					return err
				}
			}
			released = tx.released
			return nil
		}); err != nil {
			return nil, err
		}
		q.afterReleased(released)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Since.Before(out[j].Since) })
	return out, nil
}

// SingleCopyOf returns the mark of message id, ok false when it has none.
func (q *Manager) SingleCopyOf(id ID) (SingleCopy, bool) {
	var sc SingleCopy
	var ok bool
	_ = q.store.View(func(tx *Tx) error {
		v := tx.tx.Bucket(bucketSingle).Get(id.Key())
		if server, since, _, marked := singleMark(v); marked {
			how := singleHow(v)
			sc, ok = SingleCopy{ID: id, Lost: server, Since: since, Refused: singleRefusal(v), How: how, TakenOver: how == HowTaken, Held: singleHeld(v)}, true
		}
		return nil
	})
	return sc, ok
}

// ShadowHolders lists the shadow servers named by the messages still
// pending here, with how many copies each should hold: the servers this
// server probes for a new database id. A server holding a copy made
// again while its message is in delivery, which the record does not
// name yet, is one of them (heldholders.go).
func (q *Manager) ShadowHolders() (map[string]int, error) {
	out := map[string]int{}
	err := q.store.View(func(tx *Tx) error {
		clear(out)
		tx.ForEach(func(m *Message, err error) bool {
			if err == nil && needsCopy(m) {
				out[m.ShadowServer]++
				if h := tx.holderOfAliasTx(m.ShadowServer); h != "" {
					// Pushed under a name its holder's database was
					// met as (a typo in the topology, holdernames.go):
					// its holder is probed for it, by the name it is
					// recorded under.
					out[h]++
				}
			}
			return true
		})
		return tx.addHeldHolders(out) // copies made in delivery (heldholders.go)
	})
	return out, err
}

// RecopyCandidate returns message id as a copy to push again (only its
// pending recipients) with its body, when it is still marked held by
// this server only; ok false when it needs no copy any more, or is in a
// delivery attempt and its copy was made again meanwhile (heldPrefix). A
// message in delivery — claimed and waiting for a slot, or in a session
// that hangs — is a candidate like any other: the push reads the stored
// record and writes nothing of it (rt18b F1: a message whose route hangs
// is in delivery most of the time, and was never copied).
func (q *Manager) RecopyCandidate(id ID) (m *Message, body Body, ok bool, err error) {
	err = q.store.View(func(tx *Tx) error {
		if tx.tx.Bucket(bucketSingle).Get(id.Key()) == nil {
			return nil
		}
		o, err := tx.Get(id)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if !needsCopyMarked(o) || o.OrgID == "" {
			return nil
		}
		if o.State == Active && singleHeld(tx.tx.Bucket(bucketSingle).Get(id.Key())) != "" {
			// Made again on a server while in delivery: named by the
			// first listing that finds it out of delivery (SingleCopies).
			return nil
		}
		cp := *o
		cp.Rcpts = nil
		for _, i := range o.Pending() {
			cp.Rcpts = append(cp.Rcpts, o.Rcpts[i])
		}
		b, err := tx.BodyOf(id)
		if err != nil {
			return err
		}
		m, body, ok = &cp, b, true
		return nil
	})
	return m, body, ok, err
}

// ShadowRecopied records that message id's copy was made again on server
// to (named by its org id, as a copy on receipt): the record names it,
// and the mark goes, in one commit. A message whose recipients are all
// done meanwhile gets the discard of the new copy at once; one that left
// (its record and org id are gone: ShadowRecopiedOrg, which knows the
// org id, writes the discard) leaves the new copy to the holder's question about it after an hour
// (XQUERYHELD: no record here names it, so it is done with). One in a
// delivery attempt, whose commit writes its record, keeps its mark with
// the new holder in it (addHeld); a listing after the attempt names it.
func (q *Manager) ShadowRecopied(id ID, to string) error {
	return q.ShadowRecopiedOrg(id, "", to)
}

// ShadowRecopiedOrg is ShadowRecopied for the copy pushed under org id
// orgID (RecopyCandidate's): a message that left meanwhile — settled
// while the push was in flight, which a push made while the message is
// in delivery makes likely: its attempt ended, or a discard settled it —
// owes to its discard at once, in this commit, unless another record here
// still needs that copy; the holder does not keep it for an hour.
func (q *Manager) ShadowRecopiedOrg(id ID, orgID, to string) error {
	now := q.clk.Now()
	var released []releasedDSN
	err := q.store.Update(context.Background(), func(tx *Tx) error {
		released = nil
		m, err := tx.Get(id)
		if errors.Is(err, ErrNotFound) {
			if orgID != "" {
				if _, err := tx.addDiscardFor(id, orgID, to, orgID, now); err != nil {
					return err
				}
			}
			return tx.dropMark(id.Key())
		}
		if err != nil {
			return err
		}
		if tx.tx.Bucket(bucketSingle).Get(id.Key()) == nil && m.ShadowServer != "" && m.ShadowID != "" && needsCopyMarked(m) &&
			!(sameServer(m.ShadowServer, to) && m.ShadowID == m.OrgID) {
			// Its mark went while the push was in flight and its
			// record names a copy now — a failure DSN that carries its
			// original's discard (earlydsn.go): the copy pushed is not
			// needed, and naming it would drop the discard it carries.
			if err := tx.dropPushing(id); err != nil {
				return err
			}
			_, err := tx.addDiscardFor(id, m.OrgID, to, m.OrgID, now)
			return err
		}
		if m.State == Active {
			// The attempt's commit writes the record (one writer per
			// message): the mark keeps the server that stores the copy
			// now (heldPrefix), and the first listing of the marks
			// that finds the message out of delivery names it
			// (SingleCopies, rt18b F1). A message
			// that hangs or cycles in delivery so has its copy all the
			// same.
			if err := tx.dropPushing(id); err != nil { // its outcome is known now
				return err
			}
			// The servers a copy was pushed to without confirmation
			// get their discard in this commit, not after the attempt
			// (unconfirmedheld.go, rt19f-F1).
			if err := tx.discardUnconfirmedInDelivery(m, to, now); err != nil {
				return err
			}
			return tx.addHeld(id, to)
		}
		err = tx.nameCopyHolder(m, to, now)
		released = tx.released
		return err
	})
	if err == nil {
		q.afterReleased(released)
	}
	return err
}

// nameCopyHolder names server to, which stores the copy of m (named by
// its org id) made again, in m's record, and drops its mark, in tx: the
// servers a copy was pushed to without confirmation get the discard of
// theirs. A message done or settled meanwhile owes to its discard
// instead.
func (t *Tx) nameCopyHolder(m *Message, to string, now time.Time) error {
	_, _, pushed, _ := singleMark(t.tx.Bucket(bucketSingle).Get(m.ID.Key()))
	if err := t.dropMark(m.ID.Key()); err != nil {
		return err
	}
	if err := t.dropPushing(m.ID); err != nil { // pushcrash.go
		return err
	}
	for _, p := range pushed {
		if sameServer(p, to) || m.OrgID == "" {
			continue
		}
		// A copy pushed to p was not confirmed — the push broke,
		// or was abandoned at its bound — and p may store it all
		// the same (it commits what it read once it runs again,
		// rt27 F7): the record names another server now, so p gets
		// the discard of its copy (named by the org id, as every
		// copy on receipt), kept there as an early discard when
		// the copy comes after it (receiptcopy.go). Otherwise no
		// record here would name it, and a takeover would deliver
		// it again. Unless another record here still needs the copy p
		// holds under that id (siblingcopy.go): its end writes it.
		if _, err := t.addDiscardFor(m.ID, m.OrgID, p, m.OrgID, now); err != nil {
			return err
		}
		if err := t.discardFormerCopy(m, p, now); err != nil {
			return err
		}
	}
	if !needsCopyMarked(m) {
		// done, or settled meanwhile (a hold) — unless another record
		// here still needs the copy (siblingcopy.go)
		_, err := t.addDiscardFor(m.ID, m.OrgID, to, m.OrgID, now)
		return err
	}
	m.ShadowServer, m.ShadowID = to, m.OrgID
	if err := t.withdrawUnfetchedDiscard(m); err != nil { // siblingcopy.go
		return err
	}
	servers, err := t.releaseReported(m.ID, now) // dsnheld.go: a failure DSN held on a second server
	if err != nil {
		return err
	}
	if len(servers) > 0 {
		t.released = append(t.released, releasedDSN{m: m, to: to, servers: servers})
	}
	return t.Put(m)
}

// discardFormerCopy writes again the discard of m's copy on p under the
// id its record names (the relay's, not the org id) when p is the server
// the record names: RecopyPushing withdrew it before a push to p, and
// the copy made again is not p's (it went elsewhere, or m needs none
// any more), so the copy p keeps under that id must go.
func (t *Tx) discardFormerCopy(m *Message, p string, now time.Time) error {
	if !sameServer(p, m.ShadowServer) || m.ShadowID == "" || m.ShadowID == m.OrgID {
		return nil
	}
	_, err := t.addDiscardFor(m.ID, m.OrgID, p, m.ShadowID, now)
	return err
}

// CopyHolderOf returns the shadow server whose copy backs message id now
// ("" for none): copyKeeperTx.
func (q *Manager) CopyHolderOf(id ID) string {
	var out string
	_ = q.store.View(func(tx *Tx) error {
		if m, err := tx.Get(id); err == nil {
			out = tx.copyKeeperTx(m)
		}
		return nil
	})
	return out
}

// copyKeeperTx is the shadow server whose copy backs m now ("" for
// none), the one answer to "is this message kept anywhere but here?":
// message show names it (CopyHolderOf), and a restore counts a message
// the backup lacks as come back only when it names one (restoreloss.go:
// that server resubmits its copy to the new database id; rt36 F1, the
// restore judged by the record's server alone and dropped a held
// message). It is
//   - for a message held by an operator or kept in the quarantine, the
//     server its record names only when another record here still
//     needs that copy (siblingcopy.go: then the hold wrote no discard)
//     and that copy is kept there now (copyKeptForSibling);
//     the commit that held it discarded the copy otherwise (hold.go);
//   - for a message with nothing pending, or a shadow copy kept here
//     for a primary, none (needsCopyMarked);
//   - the server that stored the copy made again while the message was
//     in delivery (its mark's, heldCopy), which the record names after
//     the attempt;
//   - none for a message marked held by this server only (its copy was
//     lost, refused, withdrawn by its holder, not made on receipt,
//     pushed without confirmation, or it was taken over), or one whose
//     record names no copy (accepted with none);
//   - else the server its record names (ready, in delivery, or poison:
//     the poison queue keeps its copy when its body here did not read
//     whole, hold.go; one whose move there settled the copy,
//     poisonCopySettled, names none, as a suspended message).
//
// It reads only what a database of an older release may lack with a
// check (the restore's count reads such a file): no index, no copy
// needed elsewhere.
func (t *Tx) copyKeeperTx(m *Message) string {
	switch {
	case m.State == Suspended, m.State == Quarantined, poisonCopySettled(m):
		if m.ShadowServer != "" && m.ShadowID != "" && t.tx.Bucket(bucketOrgIDs) != nil &&
			t.copyKeptForSibling(m) {
			return m.ShadowServer
		}
		return ""
	}
	if !needsCopyMarked(m) {
		return ""
	}
	if h := t.heldCopy(m.ID); h != "" {
		return h
	}
	if m.ShadowServer == "" || m.ShadowID == "" {
		return ""
	}
	if b := t.tx.Bucket(bucketSingle); b != nil {
		if _, _, _, marked := singleMark(b.Get(m.ID.Key())); marked {
			return ""
		}
	}
	return m.ShadowServer
}

// copyKeptForSibling: held (or quarantined) m's copy was not discarded
// at its hold because another record here needed it, and that copy is
// still kept on m's server now: an original carries it (carried.go), or
// a sibling under the same copy is backed by it (copyKeeperTx names the
// same holder). A sibling that needs the copy but whose copy was lost
// (marked held by this server only: the holder's new database, a
// withdrawal, a refusal) does not keep it for m either (before, the
// restore dropped such a held message, message show named the holder).
// A sibling that cannot be read keeps nothing: a restore lists m.
func (t *Tx) copyKeptForSibling(m *Message) bool {
	if t.carriedElsewhere(m.ID, m.ShadowServer, m.ShadowID) {
		return true
	}
	kept := false
	_ = t.siblingsUnderCopy(m.ID, m.OrgID, m.ShadowServer, m.ShadowID, func(o *Message) bool {
		if k := t.copyKeeperTx(o); k != "" && t.sameHolderTx(k, m.ShadowServer) {
			kept = true
		}
		return !kept
	})
	return kept
}

// SingleCopyCount is the number of marks (for the metrics): messages held
// by this server only because a shadow copy was lost or not made — not
// those whose copy was made again while in delivery (SingleCopy.Held).
// It reads the count the marks' commits keep (putMark), not the marks.
func (q *Manager) SingleCopyCount() int {
	n := 0
	_ = q.store.View(func(tx *Tx) error {
		if v := tx.tx.Bucket(bucketMeta).Get(keySingleCount); len(v) == 8 {
			n = int(binary.BigEndian.Uint64(v))
		}
		return nil
	})
	return n
}

func (sc SingleCopy) String() string {
	if sc.Held != "" {
		return fmt.Sprintf("its shadow copy was made again on %s while it was in delivery; the record names it once the attempt ends", sc.Held)
	}
	if sc.Refused != "" {
		return fmt.Sprintf("held by this server only since %s: its shadow copy was refused (%s); made again when a shadow server takes it",
			sc.Since.UTC().Format(time.RFC3339), sc.Refused)
	}
	if sc.TakenOver {
		return fmt.Sprintf("held by this server only since %s: taken over from %s; its copy is made again when a shadow server takes it",
			sc.Since.UTC().Format(time.RFC3339), sc.Lost)
	}
	if sc.Lost == "" {
		return fmt.Sprintf("held by this server only since %s: no shadow server took its copy on receipt", sc.Since.UTC().Format(time.RFC3339))
	}
	switch sc.How {
	case HowHeld:
		return fmt.Sprintf("held by this server only since %s: its shadow copy on %s was discarded when the message was held; made again now that it goes, when a shadow server takes it",
			sc.Since.UTC().Format(time.RFC3339), sc.Lost)
	case HowQuarantined:
		return fmt.Sprintf("held by this server only since %s: its shadow copy on %s was discarded when the message was quarantined; made again now that it is released, when a shadow server takes it",
			sc.Since.UTC().Format(time.RFC3339), sc.Lost)
	case HowRemoved:
		return fmt.Sprintf("held by this server only since %s: its shadow copy was removed by the administrator of %s", sc.Since.UTC().Format(time.RFC3339), sc.Lost)
	case HowUnreachable:
		return unreachableText(sc)
	case HowNoReply:
		// Not "held by this server only": nothing says it is
		// (rcpt47 item 1); marked so that the copy is made again.
		return fmt.Sprintf("shadow copy unconfirmed since %s: the push of its shadow copy to %s got no reply (its connection lost before the reply, or the push past its bound, once the copy may have reached it): a copy may exist on %s, which gets its discard when the copy is made elsewhere",
			sc.Since.UTC().Format(time.RFC3339), sc.Lost, sc.Lost)
	case HowPushCut:
		return fmt.Sprintf("shadow copy unconfirmed since %s: a stop cut the push of its shadow copy to %s short before its outcome was recorded: a copy may exist on %s, which gets its discard when the copy is made elsewhere",
			sc.Since.UTC().Format(time.RFC3339), sc.Lost, sc.Lost)
	case HowDamaged:
		return fmt.Sprintf("held by this server only since %s: a shadow copy on %s was damaged and set aside there (which one is unknown)", sc.Since.UTC().Format(time.RFC3339), sc.Lost)
	case HowRolledBack:
		return fmt.Sprintf("held by this server only since %s: its shadow copy is missing on %s, whose transport database was rolled back (a file copied back)", sc.Since.UTC().Format(time.RFC3339), sc.Lost)
	}
	return fmt.Sprintf("held by this server only since %s: its shadow copy on %s was lost", sc.Since.UTC().Format(time.RFC3339), sc.Lost)
}

// holderStatedTx is the name (lower-cased) shadow server server stated
// as its own when its database id was last recorded under server ("":
// none stated: a session of its own here, or a release before the
// record).
func (t *Tx) holderStatedTx(server string) string {
	b := t.tx.Bucket(bucketHolderStated)
	if b == nil {
		return ""
	}
	return string(b.Get(holderKey(server)))
}

// ShadowHoldersStated lists the names shadow servers stated as their own
// (XSHADOW NAME) when their database ids were last recorded here (bucket
// holderstated): the name each was dialled as (holderKey: the topology's
// name, lower-cased) → the name it stated (lower-cased). The receipt
// path reads it at the start (package delivery, WithHolders): a holder
// whose sessions state another name than the one it is dialled by has
// its sessions' refusal kept under the stated one, and the link between
// the two must not wait for the next copy or probe after a restart
// (shadow31 S1: the discards owed to it were not handed over meanwhile).
func (q *Manager) ShadowHoldersStated() (map[string]string, error) {
	out := map[string]string{}
	err := q.store.View(func(tx *Tx) error {
		b := tx.tx.Bucket(bucketHolderStated)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			if len(v) > 0 {
				out[string(k)] = string(v)
			}
			return nil
		})
	})
	return out, err
}

// noteHolderStatedTx records stated as the name server's database id
// was recorded with ("" removes it): only a name the server stated
// independently — the NAME of its XSHADOW reply to a session this
// server dialled at server's address — links an id recorded under one
// name to another (holderMovable).
func (t *Tx) noteHolderStatedTx(server, stated string) error {
	b := t.tx.Bucket(bucketHolderStated)
	if b == nil {
		return nil
	}
	if stated == "" {
		if b.Get(holderKey(server)) == nil {
			return nil
		}
		return b.Delete(holderKey(server))
	}
	return b.Put(holderKey(server), []byte(serverKey(stated)))
}
