package queue

import (
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// A version 1 file (duplicate records without a database) is upgraded at
// open: its records are dropped, its messages and id stay.
func TestSchemaUpgradeFromVersion1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	id := s.DatabaseID()
	s.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error {
		tx.Bucket(bucketMeta).Put(keySchemaVersion, []byte{1})
		return tx.Bucket(bucketDelivered).Put(make([]byte, 16), make([]byte, 8))
	})
	db.Close()
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.View(func(tx *Tx) error {
		if n := tx.tx.Bucket(bucketDelivered).Stats().KeyN; n != 0 {
			t.Errorf("%d old records kept", n)
		}
		if v := tx.tx.Bucket(bucketMeta).Get(keySchemaVersion); len(v) != 1 || v[0] != schemaVersion {
			t.Errorf("schema version %v", v)
		}
		return nil
	})
	if s.DatabaseID() != id {
		t.Error("the upgrade changed the database id")
	}
}
