package queue

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// The database ids met as each primary's (bucket peerdbs), by id: the
// one check of a presented id (databaseOfAnotherTx) is a seek to it,
// whatever the number of primaries known, and an id stays the
// primary's after its shadowpeers record goes (SR-7: a database id met
// as one server's is never another's). Entries are written in the
// commit that writes the record (PutPeer). An entry goes only when the
// primary itself presents a new id (its old database is gone with its
// disk: nobody holds it any more), or when the operator forgets the id
// (ForgetDatabaseID, umbra shadow forget-database: its database runs
// under another server name now).

func peerDBKey(dbID, primary string) []byte {
	k := make([]byte, 0, len(dbID)+1+len(primary))
	return append(append(append(k, dbID...), 0), primary...)
}

// notePeerDB keeps the index entry of p's database id, in the commit
// writing p: oldRecord reads the record p replaces (nil: none, or
// undecodable). A new id of the same primary drops the entry of its old
// one.
func (t *Tx) notePeerDB(p *ShadowPeer, oldRecord func() *ShadowPeer) error {
	b := t.tx.Bucket(bucketPeerDBs)
	if b == nil || p.DatabaseID == "" { // a database opened for a restore check
		return nil
	}
	k := peerDBKey(p.DatabaseID, p.Primary)
	if v := b.Get(k); v != nil && string(v) == p.Addr {
		return nil // the usual commit: one Get, nothing written
	}
	switch old := oldRecord(); {
	case old != nil && old.DatabaseID != "" && old.DatabaseID != p.DatabaseID:
		if err := b.Delete(peerDBKey(old.DatabaseID, p.Primary)); err != nil {
			return err
		}
	case old == nil:
		// A primary whose record went (no copies left) and that comes
		// back: an id it presented before and no longer does is gone
		// with its database. A walk of the index, only when a record
		// is made.
		if err := t.dropPeerDBsOf(p.Primary, p.DatabaseID); err != nil {
			return err
		}
	}
	return b.Put(k, []byte(p.Addr))
}

// dropPeerDBsOf removes the index entries of primary's database ids
// other than keep.
func (t *Tx) dropPeerDBsOf(primary, keep string) error {
	b := t.tx.Bucket(bucketPeerDBs)
	var gone [][]byte
	c := b.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		i := bytes.IndexByte(k, 0)
		if i >= 0 && string(k[i+1:]) == primary && string(k[:i]) != keep {
			gone = append(gone, bytes.Clone(k))
		}
	}
	for _, k := range gone {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
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

// repairPeerDBIndex adds at open the entries of records without one: a
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
	return nil
}

// ForgetDatabaseID is the operator's word that the transport database id
// dbID is no longer the server's it was met as (umbra shadow
// forget-database): its database now runs under another server name,
// which presents it. The index entries of dbID go, in one commit, and
// their primaries are returned. Refused (ErrNotApplicable, nothing
// changed) while a primary's record here still holds dbID — its copies,
// or a contact within the grace, are kept against it — and ErrNotFound
// when no entry names dbID.
func (q *Manager) ForgetDatabaseID(dbID string) (owners []string, err error) {
	err = q.store.Update(context.Background(), func(tx *Tx) error {
		owners = owners[:0]
		var keys [][]byte
		var held []string
		tx.peerDBOwners(dbID, func(primary, _ string) bool {
			if p, err := tx.Peer(primary); err == nil && p != nil && p.DatabaseID == dbID {
				held = append(held, primary)
			}
			owners = append(owners, primary)
			keys = append(keys, peerDBKey(dbID, primary))
			return true
		})
		switch {
		case len(held) > 0:
			return fmt.Errorf("%w: transport database id %s is the stored id of %s, whose shadow state is kept here "+
				"(umbra shadow list): it stays that server's until its copies are gone", ErrNotApplicable, dbID, strings.Join(held, ", "))
		case len(keys) == 0:
			return fmt.Errorf("%w: transport database id %s was not met here as any server's", ErrNotFound, dbID)
		}
		b := tx.tx.Bucket(bucketPeerDBs)
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
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
