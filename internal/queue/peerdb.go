package queue

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// The database ids met as each primary's (bucket peerdbs), by id — and
// as each shadow server's of messages held here (noteHolderDB: the key
// names the server as ShadowHolderSeen keeps it, the value is empty): the
// one check of a presented id (databaseOfAnotherTx) is a seek to it,
// whatever the number of primaries known, and an id stays the
// primary's for good (SR-7: a database id met as one server's is never
// another's): after its shadowpeers record goes, and after the primary
// presents a new id (its disk lost: the old id is retired, not
// released — rt18d-F1). The primary itself presenting a retired id
// again (its database put back from a copy) is its own. Entries are
// written in the commit that writes the record (PutPeer), never removed
// by it; the operator removes one (ForgetDatabaseID, umbra shadow
// forget-database: its database runs under another server name now),
// a retired id as well as one no record holds (a primary's, or a shadow
// server's in bucket shadowholders); and the bound of retired ids per
// server (retiredbound.go, RetiredDatabaseIDsKept) forgets the oldest
// retired one in the commit that retires one more.

func peerDBKey(dbID, primary string) []byte {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	k := make([]byte, 0, len(dbID)+1+len(primary))
	return append(append(append(k, dbID...), 0), primary...)
}

// notePeerDB keeps the index entry of p's database id, in the commit
// writing p. The entries of the ids p presented before stay: they are
// retired, still p's (rt18d-F1).
// added: the id is new here as p's (its order noted: retiredbound.go).
func (t *Tx) notePeerDB(p *ShadowPeer) (added bool, err error) {
	b := t.tx.Bucket(bucketPeerDBs)
	if b == nil || p.DatabaseID == "" { // a database opened for a restore check
		return false, nil
	}
	k := peerDBKey(p.DatabaseID, p.Primary)
	v := b.Get(k)
	if v != nil && string(v) == p.Addr {
		return false, nil // the usual commit: one Get, nothing written
	}
	if v == nil {
		if err := t.notePeerDBOrder(p.Primary, p.DatabaseID); err != nil {
			return false, err
		}
	}
	return v == nil, b.Put(k, []byte(p.Addr))
}

// noteHolderDB keeps the index entry of dbID as shadow server server's
// (ShadowHolderSeen, in the commit recording it): an id met only as a
// holder's is that server's for good too, and its earlier ids stay
// (retired). An entry of a primary record of that name is left as it is.
// added: the id is new here as the server's (its order noted:
// retiredbound.go).
func (t *Tx) noteHolderDB(server, dbID string) (added bool, err error) {
	b := t.tx.Bucket(bucketPeerDBs)
	if b == nil || dbID == "" {
		return false, nil
	}
	if k := peerDBKey(dbID, string(holderKey(server))); b.Get(k) == nil {
		if err := t.notePeerDBOrder(string(holderKey(server)), dbID); err != nil {
			return false, err
		}
		return true, b.Put(k, []byte{})
	}
	return false, nil
}

// peerDBOwners calls f with every primary the index keeps dbID as
// the database of, and the address its copies went to, in name order,
// until f returns false.
func (t *Tx) peerDBOwners(dbID string, f func(primary, addr string) bool) {
	b := t.tx.Bucket(bucketPeerDBs)
	if b == nil || dbID == "" {
		return
	}
	prefix := append([]byte(dbID), 0)
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if !f(string(k[len(prefix):]), string(v)) {
			return
		}
	}
}

// repairPeerDBIndex adds at open the entries of records without one —
// primaries' (shadowpeers) and shadow servers' (shadowholders) — : a
// database written before the index existed, or by a release that does
// not keep it. It never removes one.
func repairPeerDBIndex(btx *bolt.Tx) error {
	tx := &Tx{tx: btx}
	b := btx.Bucket(bucketPeerDBs)
	peers, _, err := tx.Peers()
	if err != nil {
		return err
	}
	for _, p := range peers {
		if p.DatabaseID == "" {
			continue
		}
		if k := peerDBKey(p.DatabaseID, p.Primary); b.Get(k) == nil {
			if err := b.Put(k, []byte(p.Addr)); err != nil {
				return err
			}
		}
	}
	var holders [][2][]byte
	btx.Bucket(bucketHolders).ForEach(func(k, v []byte) error {
		if len(v) > 0 {
			holders = append(holders, [2][]byte{bytes.Clone(k), bytes.Clone(v)})
		}
		return nil
	})
	for _, h := range holders {
		if k := peerDBKey(string(h[1]), string(h[0])); b.Get(k) == nil {
			if err := b.Put(k, []byte{}); err != nil {
				return err
			}
		}
	}
	return nil
}

// ForgetDatabaseID is the operator's word that the transport database id
// dbID is no longer the server's it was met as (umbra shadow
// forget-database): its database now runs under another server name,
// which presents it. The index entries of dbID go, in one commit, and
// their primaries are returned: a retired id (its primary's record holds
// a newer one) as well as one whose record went. Refused (ErrNotApplicable, nothing
// changed) while a primary's record here still holds dbID — its copies,
// or a contact within the grace, are kept against it — and a
// NotFoundError (ErrNotFound, in words about database ids) when no entry
// names dbID.
func (q *Manager) ForgetDatabaseID(dbID string) (owners []string, err error) {
	err = q.store.Update(context.Background(), func(tx *Tx) error {
		owners = owners[:0]
		var keys [][]byte
		var held []string
		tx.peerDBOwners(dbID, func(primary, _ string) bool {
			if tx.peerDBHeld(primary, dbID) && (q.namedByTopology(primary) || tx.peerDBKeeps(primary, dbID)) { // its record, or its copies of messages here
				held = append(held, primary)
			}
			owners = append(owners, primary)
			keys = append(keys, peerDBKey(dbID, primary))
			return true
		})
		switch {
		case len(held) > 0:
			return &NotApplicableError{fmt.Sprintf("transport database id %s is the stored id of %s, whose shadow state is kept here "+
				"(umbra shadow list; or as the shadow server of messages here): it stays that server's until its copies are gone", dbID, strings.Join(held, ", "))}
		case len(keys) == 0:
			return &NotFoundError{fmt.Sprintf("no transport database id %s here: it was not met as any server's "+
				"(or it was forgotten already); umbra shadow list shows the ids of the primaries known", dbID)}
		}
		b := tx.tx.Bucket(bucketPeerDBs)
		for i, k := range keys {
			if err := b.Delete(k); err != nil {
				return err
			}
			if err := tx.dropPeerDBOrder(owners[i], dbID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	q.log.Warn("transport database id forgotten by the operator: a server presenting it is no longer refused as another's",
		"database_id", dbID, "was", strings.Join(owners, ","))
	return owners, nil
}

// namedByTopology: no topology is set, or it names server.
func (q *Manager) namedByTopology(server string) bool {
	known, topo := q.topologyKnows(server)
	return known || !topo
}

// peerDBKeeps says that dbID, which peerDBHeld finds recorded for name —
// a name the topology no longer gives any server (ForgetDatabaseID) —
// still keeps something here: name's primary record holds it, or a
// message here still has its copy on name (or on a name that is an
// alias of its database). A holder's recorded id alone, of a name gone
// from the topology and every copy on it settled, keeps nothing the
// operator can see (sites49 F3: forget-database refused an id "kept … as
// the shadow server of messages here" with no message here, the server
// renamed back under its first name). The id a holder of the topology
// has recorded stays its own (TestRetiredHolderDatabaseIDStaysItsServers).
// The messages are read: this is the operator's command, not a commit's.
func (t *Tx) peerDBKeeps(name, dbID string) bool {
	if p, err := t.Peer(name); err == nil && p != nil && p.DatabaseID == dbID {
		return true
	}
	aliases := t.holderAliasesTx(name)
	keeps := false
	t.ForEach(func(m *Message, err error) bool {
		if err != nil {
			keeps = true // a record that does not decode may hold a copy there: kept
			return false
		}
		keeps = holdsCopyOnAny(m, name, aliases)
		return !keeps
	})
	return keeps
}
