package queue

import (
	"path/filepath"
	"testing"
	"time"

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
	if from, to := s.UpgradedFrom(); from != 0 || to != 0 {
		t.Errorf("a new file reads as upgraded from %d to %d", from, to)
	}
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
	// What the start logs (cmd/umbra serve.go): the old and new version.
	if from, to := s.UpgradedFrom(); from != 1 || to != schemaVersion {
		t.Errorf("upgraded from %d to %d, want 1 to %d", from, to, schemaVersion)
	}
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

// A version 2 file (delivered records keyed on the Message-ID, records
// without an organisation message id) is upgraded at open: the records
// are dropped, every queued and kept message gets an org id, and the
// org id index finds the queued ones (SR-14).
func TestSchemaUpgradeFromVersion2(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := &Message{ID: 5, State: Ready, From: "a@x", MessageID: "<m@x>", Rcpts: []Recipient{{Addr: "b@y"}}}
	s.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	legacy := legacyRecord(m)
	db.Update(func(tx *bolt.Tx) error {
		tx.Bucket(bucketMeta).Put(keySchemaVersion, []byte{2})
		tx.Bucket(bucketMessages).Put(m.ID.Key(), legacy)
		tx.Bucket(bucketBodies).Put(m.ID.Key(), []byte("x\r\n"))
		tx.Bucket(bucketDumpster).Put(DumpsterKey{Database: "DB1", KeptAt: time.Unix(1, 0), ID: 6}.bytes(), legacy)
		tx.Bucket(bucketDelivAt).Put(make([]byte, 30), nil)
		return tx.Bucket(bucketDelivered).Put(make([]byte, 16), make([]byte, 8))
	})
	db.Close()
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.View(func(tx *Tx) error {
		if n := tx.tx.Bucket(bucketDelivered).Stats().KeyN + tx.tx.Bucket(bucketDelivAt).Stats().KeyN; n != 0 {
			t.Errorf("%d old records kept", n)
		}
		if v := tx.tx.Bucket(bucketMeta).Get(keySchemaVersion); len(v) != 1 || v[0] != schemaVersion {
			t.Errorf("schema version %v", v)
		}
		got, err := tx.Get(m.ID)
		if err != nil || len(got.OrgID) != 32 || got.MessageID != "<m@x>" || got.Rcpts[0].Addr != "b@y" {
			t.Fatalf("upgraded record %+v, %v", got, err)
		}
		if ids := tx.ByOrgID(got.OrgID); len(ids) != 1 || ids[0] != m.ID {
			t.Errorf("org id index: %v", ids)
		}
		tx.DumpsterScan("DB1", time.Unix(0, 0), func(e DumpsterEntry) bool {
			if e.Err != nil || len(e.Message.OrgID) != 32 {
				t.Errorf("dumpster record not upgraded: %+v", e)
			}
			return true
		})
		return nil
	})
}

// legacyRecord is m in the record layout of version 1 (before org ids):
// version 2 inserted the org id, here an empty string (one zero length
// byte), right after the Message-ID.
func legacyRecord(m *Message) []byte {
	cp := *m
	cp.OrgID = ""
	cur, _, _ := checkRecordSum(cp.encode()) // an older release wrote no checksum
	e := encoder{buf: []byte{1}}
	e.uint(uint64(m.ID))
	e.uint(uint64(m.State))
	e.str(m.From)
	e.time(m.Arrived)
	e.uint(uint64(m.Size))
	e.str(m.Connector)
	e.str(m.ClientIP)
	e.str(m.Helo)
	e.str(m.EnvID)
	e.str(m.MessageID)
	off := len(e.buf)
	out := append([]byte{1}, cur[1:off]...)
	return append(out, cur[off+1:]...)
}
