package queue

import (
	"bytes"
	"encoding/binary"
	"log/slog"
)

// RetiredDatabaseIDsKept bounds the retired transport database ids kept
// per server (bucket peerdbs, peerdb.go): a server that presents a fresh
// id again and again — each wipe of its disk adds one — would otherwise
// grow its entries here without end. Besides the ids a record here holds
// (the server's record as a primary, its record as the shadow server of
// messages held here), at most this many of its ids are kept, the most
// recently met; the commit that retires one more forgets the oldest
// (logged at WARN, umbra_shadow_retired_database_ids counts those kept).
// An id forgotten so is no longer refused when another server presents
// it, as after `umbra shadow forget-database`.
const RetiredDatabaseIDsKept = 32

// The order in which each server's ids were first met (bucket
// peerdborder): server name (as its peerdbs key ends) ‖ 0x00 ‖ sequence
// (8, BE) → database id, written in the commit that writes the peerdbs
// entry; the bound forgets the oldest first. An entry of peerdbs without
// one (written by a release without the bound) gets one at Open, older
// than every id met since.

func peerDBOrderPrefix(name string) []byte {
	return append([]byte(serverKey(name)), 0) // one spelling (holderfold.go, primaryfold.go)
}

// forgottenDB is a retired id the bound forgot in a transaction: logged
// after its commit (Store.logForgotten).
type forgottenDB struct{ server, dbID string }

// notePeerDBOrder records that name's id dbID was met first now.
func (t *Tx) notePeerDBOrder(name, dbID string) error {
	b := t.tx.Bucket(bucketPeerDBOrder)
	if b == nil { // a database opened for a restore check
		return nil
	}
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	k := binary.BigEndian.AppendUint64(peerDBOrderPrefix(name), seq)
	return b.Put(k, []byte(dbID))
}

// dropPeerDBOrder removes the order entry of name's id dbID.
func (t *Tx) dropPeerDBOrder(name, dbID string) error {
	b := t.tx.Bucket(bucketPeerDBOrder)
	if b == nil {
		return nil
	}
	prefix := peerDBOrderPrefix(name)
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if len(k) == len(prefix)+8 && string(v) == dbID {
			return c.Delete()
		}
	}
	return nil
}

// peerDBHeld reports whether a record here holds dbID as name's: its
// record as a primary (shadowpeers), or as the shadow server of messages
// held here (shadowholders). Such an id is neither forgotten by the
// bound nor by the operator.
func (t *Tx) peerDBHeld(name, dbID string) bool {
	if p, err := t.Peer(name); err == nil && p != nil && p.DatabaseID == dbID {
		return true
	}
	if h := t.tx.Bucket(bucketHolders); h != nil && string(h.Get(holderKey(name))) == dbID {
		return true
	}
	return false
}

// boundRetiredDBsTx forgets the oldest retired ids of name beyond
// RetiredDatabaseIDsKept, in the caller's transaction — the one that
// wrote the record retiring one more id, after writing it — so that an
// id is retired and the oldest forgotten in one commit.
func (t *Tx) boundRetiredDBsTx(name string) error {
	ob, pb := t.tx.Bucket(bucketPeerDBOrder), t.tx.Bucket(bucketPeerDBs)
	if ob == nil || pb == nil {
		return nil
	}
	type entry struct{ key, id []byte }
	var retired []entry
	prefix := peerDBOrderPrefix(name)
	c := ob.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if len(k) == len(prefix)+8 && !t.peerDBHeld(name, string(v)) {
			retired = append(retired, entry{bytes.Clone(k), bytes.Clone(v)})
		}
	}
	for len(retired) > RetiredDatabaseIDsKept {
		e := retired[0]
		retired = retired[1:]
		if err := pb.Delete(peerDBKey(string(e.id), name)); err != nil {
			return err
		}
		if err := ob.Delete(e.key); err != nil {
			return err
		}
		t.forgotten = append(t.forgotten, forgottenDB{server: name, dbID: string(e.id)})
	}
	return nil
}

// repairPeerDBOrder gives every peerdbs entry without an order entry one
// (at Open): a release without the bound wrote them; they count as
// older than any id met since, in id order.
func repairPeerDBOrder(t *Tx) error {
	ob, pb := t.tx.Bucket(bucketPeerDBOrder), t.tx.Bucket(bucketPeerDBs)
	if ob == nil || pb == nil {
		return nil
	}
	have := map[string]bool{}
	ob.ForEach(func(k, v []byte) error {
		if i := bytes.IndexByte(k, 0); i >= 0 {
			have[string(k[:i])+"\x00"+string(v)] = true
		}
		return nil
	})
	var missing [][2]string
	pb.ForEach(func(k, _ []byte) error {
		if i := bytes.IndexByte(k, 0); i >= 0 && !have[string(k[i+1:])+"\x00"+string(k[:i])] {
			missing = append(missing, [2]string{string(k[i+1:]), string(k[:i])})
		}
		return nil
	})
	for _, m := range missing {
		if err := t.notePeerDBOrder(m[0], m[1]); err != nil {
			return err
		}
	}
	return nil
}

// RetiredDatabaseIDCount is the number of retired database ids kept
// here (peerdbs entries no record holds), over all servers: at most
// RetiredDatabaseIDsKept per server (umbra_shadow_retired_database_ids).
// Read at every scrape of the metrics, it walks the bucket's entries
// (at most RetiredDatabaseIDsKept per server besides the ones records
// hold: a small bucket), looking each one's owner up in the records; a
// key without its "\x00" separator names no id and is skipped.
func (q *Manager) RetiredDatabaseIDCount() (int, error) {
	n := 0
	err := q.store.View(func(tx *Tx) error {
		b := tx.tx.Bucket(bucketPeerDBs)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, _ []byte) error {
			if i := bytes.IndexByte(k, 0); i >= 0 && !tx.peerDBHeld(string(k[i+1:]), string(k[:i])) {
				n++
			}
			return nil
		})
	})
	return n, err
}

// logForgotten logs at WARN each retired id the bound forgot, after
// the commit that forgot it.
func (s *Store) logForgotten(fs []forgottenDB) {
	if len(fs) == 0 {
		return
	}
	log := s.peerLog.Load()
	if log == nil {
		return
	}
	for _, f := range fs {
		log.Warn("retired transport database id forgotten: the server presented more than the retired ids kept per server; "+
			"another server presenting this id is no longer refused as this server's",
			"database_id", f.dbID, "server", f.server, "retired_kept", RetiredDatabaseIDsKept)
	}
}

// setPeerLog sets the logger of what the store's commits forget
// (logForgotten): the manager's.
func (s *Store) setPeerLog(l *slog.Logger) { s.peerLog.Store(l) }
