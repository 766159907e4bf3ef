package queue

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// Every opener that upgrades the schema says so, in one wording, from
// Open itself (not each caller): the old and new version and the way
// back (README, Upgrades and rollback). A file of this version says
// nothing.
func TestOpenLogsSchemaUpgrade(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	s, err := Open(path, Options{Log: log})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keySchemaVersion, []byte{4}) })
	db.Close()
	if logs.Len() != 0 {
		t.Fatalf("a new file logged %q", logs.String())
	}
	s, err = Open(path, Options{Log: log})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	want := `level=WARN msg="transport database schema upgraded: a release of the old version refuses the file; roll back to it with umbra db compact --schema 4 first" from_version=4 to_version=5`
	if n := strings.Count(logs.String(), "schema upgraded"); n != 1 || !strings.Contains(logs.String(), want) {
		t.Errorf("log %q, want one line %q", logs.String(), want)
	}
	logs.Reset()
	if s, err = Open(path, Options{Log: log}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if logs.Len() != 0 {
		t.Errorf("a file of this version logged %q", logs.String())
	}
}
