package queue

import (
	"bytes"
	"context"
	"encoding/binary"
	"maps"
	"slices"
	"time"
)

// Copies dropped by an operator (shadow verbs version 12, package smtp:
// XQUERYDROPPED). An operator's forced removal of a shadow copy here
// (RemoveMessageForce: `umbra message remove --force`, by id or by a
// bulk selection) leaves its primary's message on the primary's disk
// alone, and the primary, which counts the message as copied, would
// never make the copy again: a later loss of the primary loses the
// message. So the commit that removes the copy also notes, per primary
// and copy id of its shadowed recipients,
//
//	dropped lower(primary) ‖ 0x00 ‖ copy id → dropped-at (8, BE)
//
// and the primary learns of it when it next asks this server (its
// holder probe, package shadow holders.go, each heartbeat timeout):
// "XQUERYDROPPED <max>" after its XSHADOW lists the copies dropped for
// the session's authenticated server. The primary marks, in one commit,
// every message still pending there whose copy was that one as held by
// it only (ShadowCopiesDropped: the singlecopy mark of a holder's lost
// database), and the same probe pass makes the copies again (Recopy).
// A note is forgotten here only once the primary provably has it
// (SR-15: its next command, which it sends after its commit); a crash
// of either side before that leaves the note, asked again at the next
// probe, and marking a message marked already changes nothing.
//
// A primary below version 12 never asks: its message stays on its disk
// alone until done, as before, and the note is pruned here once every
// message it could name has expired at the primary (message_expiration
// and shadowExpiryGrace after the removal).

// DroppedEvery is the copy id of a note that names no copy: a shadow
// copy this server set aside as damaged (damaged.go) cannot say which
// copy of its primary's it was, so the primary takes every message
// whose copy is here as held by it alone, and copies them again (a
// copy this server still holds then arrives twice and is kept once:
// one copy per message).
const DroppedEvery = "*"

func droppedPrefix(primary string) []byte {
	return append([]byte(serverKey(primary)), 0) // holderfold.go
}

func droppedKey(primary, sid string) []byte {
	return append(droppedPrefix(primary), sid...)
}

// noteDroppedTx writes, in the caller's commit that removes m, the note
// of every copy m kept (a primary and copy id of a shadowed recipient).
// Notes older than the expiry bound go in the same commit. It returns
// the primaries noted.
func (t *Tx) noteDroppedTx(m *Message, now time.Time, expiry time.Duration) ([]string, error) {
	b := t.tx.Bucket(bucketDropped)
	var primaries []string
	seen := map[string]bool{}
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], uint64(nanos(now)))
	for _, r := range m.Rcpts {
		if r.Status != Shadowed || r.Primary == "" || r.ShadowID == "" {
			continue
		}
		k := droppedKey(r.Primary, r.ShadowID)
		if seen[string(k)] {
			continue
		}
		seen[string(k)] = true
		if err := b.Put(k, v[:]); err != nil {
			return nil, err
		}
		if !containsFold(primaries, r.Primary) {
			primaries = append(primaries, r.Primary)
		}
	}
	if len(primaries) == 0 {
		return nil, nil
	}
	cutoff := now.Add(-expiry - shadowExpiryGrace)
	var old [][]byte
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(v) != 8 || time.Unix(0, int64(binary.BigEndian.Uint64(v))).Before(cutoff) {
			old = append(old, bytes.Clone(k))
		}
	}
	for _, k := range old {
		if err := b.Delete(k); err != nil {
			return nil, err
		}
	}
	return primaries, nil
}

func count(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if sameServer(x, s) {
			return true
		}
	}
	return false
}

// DroppedCopies lists up to max copies dropped here by an operator that
// were kept for primary, whose session presented the database id
// presented (their copy ids): under its name or under
// another name whose record keeps its database id (namesOfPrimaryDB: a
// rename its own reload refused files its copies under the new name).
// ack forgets exactly those listed: call it once the primary provably
// has them (its next command).
func (q *Manager) DroppedCopies(primary, presented string, max int) ([]string, func()) {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	var ids []string
	var keys [][]byte
	_ = q.store.View(func(tx *Tx) error {
		names := tx.namesOfPrimaryDB(primary, presented)
		order := append([]string{primary}, slices.Sorted(maps.Keys(names))...)
		c := tx.tx.Bucket(bucketDropped).Cursor()
		seen := map[string]bool{}
		for _, name := range order {
			if seen[name] {
				continue
			}
			seen[name] = true
			prefix := droppedPrefix(name)
			for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(ids) < max; k, _ = c.Next() {
				ids = append(ids, string(k[len(prefix):]))
				keys = append(keys, bytes.Clone(k))
			}
		}
		return nil
	})
	if len(ids) == 0 {
		return nil, nil
	}
	return ids, func() {
		err := q.store.Update(context.Background(), func(tx *Tx) error {
			b := tx.tx.Bucket(bucketDropped)
			for _, k := range keys {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			q.log.Error("forgetting the dropped copies a primary was told of failed; they are told again", "primary", primary, "err", err)
			return
		}
		if n := len(ids) - count(ids, DroppedEvery); n > 0 {
			q.log.Info("primary has the notes of the shadow copies its administrator removed here", "primary", primary, "copies_removed", n)
		}
		if slices.Contains(ids, DroppedEvery) {
			q.log.Info("primary has the note of a shadow copy set aside here as damaged", "primary", primary)
		}
	}
}

// ShadowCopiesDropped is the primary's side: server (a shadow server
// this server probed) says its operator removed the copies ids (or,
// DroppedEvery, that it set aside as damaged a copy it cannot name).
// Every message still pending here whose copy was one of them (any, for
// DroppedEvery) on server is marked held by this server only, in one commit (the mark of a lost
// copy: the views show it, and the holder probe's pass makes the copy
// again). A copy made again while its message was in delivery, which
// its record does not name yet (heldPrefix), is found by the org id it
// was pushed under (dropHeldOn). It returns how many messages it marked.
func (q *Manager) ShadowCopiesDropped(server string, ids []string) (int, error) {
	if server == "" || len(ids) == 0 {
		return 0, nil
	}
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	now := q.clk.Now()
	var marked []*Message
	err := q.store.Update(context.Background(), func(tx *Tx) error {
		marked = marked[:0]
		var found []*Message
		aliases := tx.holderAliasesTx(server) // holdernames.go
		if want[DroppedEvery] {
			// Which copy is unknown: every record is read (rare: a
			// damaged copy there).
			tx.ForEach(func(m *Message, err error) bool {
				if err == nil && holdsCopyOnAny(m, server, aliases) {
					found = append(found, m)
				}
				return true
			})
		} else {
			// The copies named: one seek each in the index of records
			// by copy id (shadowidindex.go), not a walk over the queue
			// in the single writer's transaction.
			seen := map[string]bool{}
			for _, id := range ids {
				if seen[id] {
					continue
				}
				seen[id] = true
				for _, m := range tx.byShadowID(id) {
					if holdsCopyOnAny(m, server, aliases) {
						found = append(found, m)
					}
				}
			}
		}
		for _, m := range found {
			if tx.markedSingle(m.ID) {
				continue // known already (a note told twice after a crash)
			}
			how := HowRemoved
			if want[DroppedEvery] && !want[m.ShadowID] {
				how = HowDamaged
			}
			if err := tx.markSingleHow(m.ID, server, how, now); err != nil {
				return err
			}
			marked = append(marked, m)
		}
		// Copies made again while their message was in delivery,
		// which the records do not name yet (heldholders.go).
		held, err := tx.dropHeldOn(server, want, now)
		marked = append(marked, held...)
		return err
	})
	if err != nil {
		return 0, err
	}
	why := "shadow copy removed by the administrator of its holder: the message is held by this server only until its copy is made again"
	if want[DroppedEvery] {
		why = "a shadow copy on its holder was set aside as damaged, and which one is unknown: the message is held by this server only until its copy is made again"
	}
	for _, m := range marked {
		q.log.Warn(why, "msg_id", m.ID.String(), "shadow_server", server)
	}
	return len(marked), nil
}
