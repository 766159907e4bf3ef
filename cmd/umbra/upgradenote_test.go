package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"umbra/internal/queue"
)

// A command that opens a transport database of an older schema without
// upgrading it (db compact keeps the file's version) says so in the
// words of the start that will (queue.UpgradeWayBack, OPS-): which
// version, that the next start upgrades it, and the way back.
func TestDBCompactNamesOlderSchema(t *testing.T) {
	dir := t.TempDir()
	cfg := relayConfig(t, dir, freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1"))
	path := filepath.Join(dir, "data", "queue.db")
	os.MkdirAll(filepath.Dir(path), 0o700)
	s, err := queue.Open(path, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("meta")).Put([]byte("schema_version"), []byte{4}) })
	db.Close()
	code, errOut := cliErr(t, cfg, "db", "compact")
	want := "is of schema version 4; the next start of this release upgrades it to version 5: a release of the old version refuses the file; roll back to it with umbra db compact --schema 4 first"
	if code != 0 || !strings.Contains(errOut, want) {
		t.Errorf("db compact: exit %d, stderr %q; want %q", code, errOut, want)
	}
	// A file of this release's version: nothing said.
	s, err = queue.Open(path, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if code, errOut := cliErr(t, cfg, "db", "compact"); code != 0 || strings.Contains(errOut, "schema version") {
		t.Errorf("db compact of a current file: exit %d, stderr %q", code, errOut)
	}
}
