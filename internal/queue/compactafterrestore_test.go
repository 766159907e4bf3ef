package queue

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// Q-5, OPS-3: a restore that staged nothing (every body of its backup
// under the restore's spool threshold) records restore_staged "0"; the
// restored database, compacted before its first start with a lower
// threshold (`umbra db compact` after a spool_threshold change), has
// its large bodies put into spool/ by the compaction — the database's
// own files, the replaced spool moved aside by the restore already.
// The start decides by restore_staged alone ("staged nothing never owns
// spool/") and moves the compaction's files aside: the messages' bodies
// are missing.
func TestQ5CompactAfterRestoreThatStagedNothingKeepsBodies(t *testing.T) {
	path, s := dataDirStore(t)
	content := bigContent(100 << 10) // under testThreshold: the restore stages nothing
	m := putReady(t, s, content)
	backup := backupTo(t, s, BackupOptions{})
	s.Close()
	if _, err := RestoreWith(backup, path, RestoreOptions{SpoolThreshold: testThreshold}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(path), "spool.restore")); err == nil {
		t.Fatal("the restore staged something: not this case")
	}
	// Compacted before its first start, with a lower threshold: the body
	// goes into spool/.
	if _, _, err := CompactTo(path, 32<<10, 0); err != nil {
		t.Fatal(err)
	}
	r, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ents, _ := os.ReadDir(filepath.Dir(path))
	t.Logf("data directory: %s; missing spool files: %v", names(ents), r.MissingSpool())
	if len(r.MissingSpool()) > 0 {
		t.Errorf("the start found spool files the database names missing: %v", r.MissingSpool())
	}
	var b Body
	var berr error
	r.View(func(tx *Tx) error { b, berr = tx.BodyOf(m.ID); return nil })
	if berr != nil {
		t.Fatalf("body of %s: %v", m.ID, berr)
	}
	rd, err := b.Reader()
	if err != nil {
		t.Fatalf("body of %s (spooled %v): %v", m.ID, b.Spooled(), err)
	}
	got, err := io.ReadAll(rd)
	rd.Close()
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("body of %s: read %d bytes, err %v; want %d bytes", m.ID, len(got), err, len(content))
	}
}
