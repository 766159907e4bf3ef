package queue

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// Q-5, OPS-3: a restore that staged a body (over its threshold) killed
// after its rename; before any start, the database is compacted with a
// lower threshold: a second body goes into the live spool/. The start
// then installs spool.restore, moving spool/ — with the compaction's
// file — aside.
func TestQ5CompactAfterRestoreKilledPastRenameKeepsBodies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a child process")
	}
	path, s := dataDirStore(t)
	small := bigContent(100 << 10)
	ms := putReady(t, s, small)
	putReady(t, s, bigContent(600<<10))
	backup := backupTo(t, s, BackupOptions{})
	s.Close()
	killRestoreAt(t, backup, path, "renamed")
	if _, err := os.Stat(filepath.Join(filepath.Dir(path), "spool.restore")); err != nil {
		t.Fatal("the restore staged nothing: not this case")
	}
	if _, _, err := CompactTo(path, 32<<10, 0); err != nil {
		t.Fatal(err)
	}
	r, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ents, _ := os.ReadDir(filepath.Dir(path))
	t.Logf("data directory: %s; missing: %v", names(ents), r.MissingSpool())
	var b Body
	r.View(func(tx *Tx) error { b, _ = tx.BodyOf(ms.ID); return nil })
	rd, err := b.Reader()
	if err != nil {
		t.Fatalf("body of %s: %v", ms.ID, err)
	}
	got, _ := io.ReadAll(rd)
	rd.Close()
	if !bytes.Equal(got, small) {
		t.Fatalf("body of %s: %d bytes, want %d", ms.ID, len(got), len(small))
	}
}
