package queue

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A backup written by a newer release (its schema version is newer than
// this binary knows) is refused by restore before anything is replaced,
// saying so and what to do, and verify says the same; its checksums
// being sound does not make it restorable here.
func TestRestoreRefusesNewerSchema(t *testing.T) {
	for _, unverified := range []bool{false, true} {
		backup, live, _, _, _ := backupWithBodies(t)
		db, err := bolt.Open(backup, 0o600, &bolt.Options{Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		// As a newer release writes it: its checksums match.
		db.Update(func(tx *bolt.Tx) error {
			if err := tx.Bucket(bucketMeta).Put(keySchemaVersion, []byte{schemaVersion + 1}); err != nil {
				return err
			}
			return sealBackup(tx)
		})
		db.Close()
		dir := filepath.Dir(live)
		before, _ := os.ReadFile(live)
		entsBefore, _ := os.ReadDir(dir)
		_, err = RestoreWith(backup, live, RestoreOptions{Unverified: unverified, SpoolThreshold: testThreshold})
		if !errors.Is(err, ErrNewerSchema) || !strings.Contains(err.Error(), "newer release") || !strings.Contains(err.Error(), "unchanged") {
			t.Fatalf("restore of a newer schema (unverified %v): %v", unverified, err)
		}
		t.Log(err)
		if after, _ := os.ReadFile(live); !bytes.Equal(before, after) {
			t.Fatal("a refused restore changed the database")
		}
		entsAfter, _ := os.ReadDir(dir)
		if len(entsAfter) != len(entsBefore) {
			var names []string
			for _, e := range entsAfter {
				names = append(names, e.Name())
			}
			t.Errorf("a refused restore left files: %v", names)
		}
		if err := VerifyBackup(backup); !errors.Is(err, ErrNewerSchema) {
			t.Errorf("verify of a newer schema: %v", err)
		}
	}
}

// db compact of a database a newer release wrote is refused before
// anything is written: its copy would be in this release's layout.
func TestCompactRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keySchemaVersion, []byte{schemaVersion + 1}) })
	db.Close()
	before, _ := os.ReadFile(path)
	for _, schema := range []int{0, 3} {
		if _, _, err := CompactTo(path, testThreshold, schema); !errors.Is(err, ErrNewerSchema) {
			t.Errorf("compact --schema %d of a newer schema: %v", schema, err)
		}
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("a refused compaction changed the database")
	}
	if m, _ := filepath.Glob(path + ".*"); len(m) != 0 {
		t.Errorf("left behind: %v", m)
	}
}
