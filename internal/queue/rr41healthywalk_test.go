package queue

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Q-5, OPS-3 (rr41): the page walk that runs before every writable open
// (the start's too) refuses a root entry not marked as a bucket (rt41
// F7). A false "damaged" there is an outage, so the walk must find no
// damage in any file umbra writes: each schema version's layout (1 and 2
// as their upgrade tests write them, 3 as writeVersion3 writes it), a
// database of the current version with bodies as values and in buckets
// of their own and inline buckets in the root (empty ones), its backup,
// its copy compacted to version 3 and at the current version, and each
// of those after their upgrade at Open.
func TestPageWalkFindsNoDamageInEverySchema(t *testing.T) {
	dir := t.TempDir()
	sound := func(name, path string) {
		t.Helper()
		if d := describeDamage(path); d != "" {
			t.Errorf("%s: a healthy file reported damaged: %s", name, d)
		}
		if err := checkPageTree(path); err != nil {
			t.Errorf("%s: refused before its open: %v", name, err)
		}
	}
	reopen := func(name, path string) {
		t.Helper()
		s, err := Open(path, Options{UnsafeNoSync: true})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		s.Close()
		sound(name+", opened (upgraded)", path)
	}

	empty := filepath.Join(dir, "empty.db")
	s, err := Open(empty, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	sound("a new file", empty)

	current := filepath.Join(dir, "current.db")
	s, err = Open(current, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range []int{100, 5000, 100 << 10, 300 << 10, 40, 2 << 20} {
		m := msg(s, "a@example.org", "b@example.test", "c@example.test")
		m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
		body := numberedBody(i, n)
		k := DumpsterKey{Database: "DB1", KeptAt: time.Unix(int64(1000+i), 0), ID: m.ID}
		if err := s.Update(context.Background(), func(tx *Tx) error {
			if err := tx.PutNew(m, body); err != nil {
				return err
			}
			return tx.DumpsterPut(k, m, body)
		}); err != nil {
			t.Fatal(err)
		}
	}
	backup := filepath.Join(dir, "backup.db")
	if _, err := s.WriteBackup(backup); err != nil {
		t.Fatal(err)
	}
	s.Close()
	sound("the current schema", current)
	sound("a backup", backup)
	reopen("the current schema", current)
	reopen("a backup", backup)

	if _, _, err := CompactTo(current, 0, 3); err != nil {
		t.Fatal(err)
	}
	sound("compacted to schema 3", current)
	reopen("compacted to schema 3", current)
	if _, _, err := Compact(current); err != nil {
		t.Fatal(err)
	}
	sound("compacted", current)
	reopen("compacted", current)

	v3 := filepath.Join(dir, "v3.db")
	writeVersion3(t, v3, 200<<10)
	sound("schema 3", v3)
	reopen("schema 3", v3)

	for _, v := range []byte{1, 2} {
		path := filepath.Join(dir, "v"+string('0'+v)+".db")
		s, err := Open(path, Options{UnsafeNoSync: true})
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
		if err := db.Update(func(tx *bolt.Tx) error {
			tx.Bucket(bucketMeta).Put(keySchemaVersion, []byte{v})
			tx.Bucket(bucketMessages).Put(m.ID.Key(), legacy)
			tx.Bucket(bucketBodies).Put(m.ID.Key(), []byte("x\r\n"))
			tx.Bucket(bucketDumpster).Put(DumpsterKey{Database: "DB1", KeptAt: time.Unix(1, 0), ID: 6}.bytes(), legacy)
			tx.Bucket(bucketDelivAt).Put(make([]byte, 30), nil)
			return tx.Bucket(bucketDelivered).Put(make([]byte, 16), make([]byte, 8))
		}); err != nil {
			t.Fatal(err)
		}
		db.Close()
		sound("schema "+string('0'+v), path)
		reopen("schema "+string('0'+v), path)
	}
}
