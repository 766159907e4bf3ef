package queue

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
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
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "data", "queue.db")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	put := func(content []byte) *Message {
		m := msg(s, "a@example.org", "b@example.test")
		m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
		if err := s.Update(ctx, func(tx *Tx) error { return tx.PutNew(m, content) }); err != nil {
			t.Fatal(err)
		}
		return m
	}
	small := bigContent(100 << 10)
	ms := put(small)
	put(bigContent(600 << 10))
	backup := filepath.Join(t.TempDir(), "b.db")
	if _, err := SaveBackup(backup, func(w io.Writer) (int64, error) {
		return s.BackupWith(w, BackupOptions{}, nil)
	}); err != nil {
		t.Fatal(err)
	}
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
