package queue

import (
	"bytes"
	"context"
	"encoding/binary"
	"time"
)

// An operator's hold on a taken-over copy, carried to its primary
// (rt21a M1).
//
// A copy taken over for failed heartbeats and then suspended here by the
// administrator (umbra message suspend) is still given back when its
// primary answers again with the database the copy was taken over from
// (giveBackTx): the primary holds the original and is its one owner. So
// that the hold is not undone by that give-back, the give-back's commit
// also writes a note of kind TakenHeld in bucket takendone, under the
// primary's database id and the copy's shadow id:
//
//	takendone  database id ‖ 0x00 ‖ shadow id ‖ 0x00 ‖ 0x00 → at (8, BE) ‖ 'H'
//
// (no recipient key starts with NUL, so neither a recipient's note nor
// the delay note shares the key). The returning primary reads it with
// the other notes (XQUERYTAKENDONE <max> HELD, shadow verbs version 16:
// a client sends HELD only to a server that advertised 16, which lists
// held notes only to a query that says HELD), and in the commit that
// records them suspends its original as umbra message suspend would
// (ShadowFinishedElsewhere): the hold settles the copy given back here
// (its discard), so the message has one owner, held, and umbra message
// resume there delivers it once. A primary's stall guard and start ask
// before any attempt; a give-back by a heartbeat of this server waits
// for the primary's next probe, and a primary that presents its database
// in its own session gets the copy back in the XSHADOW's commit, before
// its XQUERYTAKENDONE in that session is answered.
//
// A primary below version 16 never asks with HELD: it cannot take the
// hold and delivers its original. Its question without HELD forgets the
// held notes for its database and says so at WARN (the hold was not
// carried); one below 15 never asks, and the notes are pruned with the
// others. Crash: the note is in the give-back's commit; the primary's
// suspend in one commit before its next command, which is what makes
// this server forget the note — told again, it changes nothing (the
// original is suspended already).

// takenHeldKey is the key of the held note for copy id of database dbID.
func takenHeldKey(dbID, id string) []byte { return append(takenDoneKey(dbID, id, ""), 0) }

// noteTakenHeldTx records, in the give-back's commit, that the copies
// ids of the primary with database dbID were held here when given back.
func (t *Tx) noteTakenHeldTx(dbID string, ids []string, now time.Time) error {
	b := t.tx.Bucket(bucketTakenDone)
	if b == nil || dbID == "" {
		return nil
	}
	var v [9]byte
	binary.BigEndian.PutUint64(v[:8], uint64(nanos(now)))
	v[8] = TakenHeld
	for _, id := range ids {
		if err := b.Put(takenHeldKey(dbID, id), bytes.Clone(v[:])); err != nil {
			return err
		}
	}
	return nil
}

// heldShadowIDs is the shadow ids of m's recipients copied from primary
// (those a give-back hands back), each once.
func heldShadowIDs(m *Message, primary string) []string {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	var ids []string
	for _, r := range m.Rcpts {
		if r.Status == Pending && r.Primary == primary && r.ShadowID != "" && !containsStr(ids, r.ShadowID) {
			ids = append(ids, r.ShadowID)
		}
	}
	return ids
}

func containsStr(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// TakenDoneHeldFor is TakenDoneFor for a primary that asked with HELD
// (shadow verbs 16): the held notes are listed with the others.
func (q *Manager) TakenDoneHeldFor(dbID string, max int) ([]TakenDone, func()) {
	return q.takenDoneFor(dbID, max, true)
}

// forgetHeldFor forgets the held notes keys (of database dbID) a primary
// below shadow verbs 16 was not told: it asked without HELD, so it runs
// with its original and delivers it. The hold was not carried: said at
// WARN, once.
func (q *Manager) forgetHeldFor(dbID string, keys [][]byte) {
	if len(keys) == 0 {
		return
	}
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
		q.log.Error("forgetting the holds an older primary cannot take failed", "database_id", dbID, "err", err)
		return
	}
	for _, k := range keys {
		id, _, _ := bytes.Cut(k[len(dbID)+1:], []byte{0})
		q.log.Warn("taken-over copy held by the administrator was given back to a primary older than shadow verbs 16: the hold was not carried, the primary delivers the message (hold it there: umbra message suspend on the primary)",
			"shadow_id", string(id), "database_id", dbID)
	}
}

// holdable reports whether a held note suspends m, the original of a
// copy given back held: a recipient still pending, and not held already
// (suspended, quarantined, poison) nor a copy or a damaged record —
// what umbra message suspend would refuse (StateView.Refusal). A record
// in delivery is the caller's to leave alone.
func holdable(m *Message) bool {
	switch m.State {
	case Suspended, Quarantined, Poison, Shadow, Damaged:
		return false
	}
	return len(m.Pending()) > 0
}

// heldBack is an original suspended for a held note, and whether the
// hold settled its shadow copy.
type heldBack struct {
	m       *Message
	settled bool
}

// holdTakenBackTx suspends m, in the caller's commit, as umbra message
// suspend does (suspendAction): its shadow copy — the one given back on
// server — is settled (its discard), and its release makes it again.
func (t *Tx) holdTakenBackTx(m *Message, server string, now time.Time) (bool, error) {
	settled, err := settleHeldCopy(t, m, now)
	if err != nil {
		return false, err
	}
	m.CopyOnRelease = m.CopyOnRelease || t.markedSingle(m.ID)
	m.State = Suspended
	m.LastError = heldTakenBackReason(server)
	return settled, nil
}

// heldTakenBackReason is the LastError of a copy held by the
// administrator of server, which took it over: what server answered,
// not why it took the copy over (takenDoneWhat).
func heldTakenBackReason(server string) string {
	return "held by the administrator of " + server + ", which had taken its copy over (umbra message resume releases it)"
}

// heldTakenBack logs and records the originals suspended for held notes
// of server (ShadowFinishedElsewhere), after the commit.
func (q *Manager) heldTakenBack(server string, held []heldBack) {
	for _, h := range held {
		q.ev.Event("held-elsewhere", h.m, nil, "held by the administrator of "+server+", which had taken the copy over")
		q.log.Warn("message held: the administrator of the shadow server that took its copy over suspended it there; it stays held here until umbra message resume",
			"msg_id", h.m.ID.String(), "shadow_server", server)
		if h.settled {
			q.heldCopySettled(q.ev, h.m)
		}
	}
}
