package queue

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// walkValues calls fn for every value of every bucket (nested ones too,
// under the name of the top-level bucket) of the database file at path.
func walkValues(t *testing.T, path string, fn func(bucket, k, v []byte)) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var walk func(name []byte, b *bolt.Bucket)
	walk = func(name []byte, b *bolt.Bucket) {
		b.ForEach(func(k, v []byte) error {
			if v == nil {
				if nb := b.Bucket(k); nb != nil {
					walk(name, nb)
					return nil
				}
			}
			fn(name, k, v)
			return nil
		})
	}
	db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error { walk(name, b); return nil })
	})
}

// A backup never holds a spooled body whole in one value: bbolt keeps a
// value it writes, and the pages it writes it to, in memory until the
// commit, so a body of any size in one value is that much memory in the
// daemon that takes the backup (and more in the one restoring it). The
// body goes in pieces of backupChunk bytes, read from its file a piece
// at a time, and comes back byte for byte, its dumpster copy sharing
// its file again.
func TestBackupCarriesSpooledBodiesInPieces(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	content := bigContent(3*backupChunk + 12345)
	b := spooled(t, s, content)
	m := msg(s, "a@example.org", "b@example.test")
	m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
	dump := DumpsterKey{Database: "DB1", KeptAt: time.Unix(1000, 0), ID: m.ID}
	if err := s.Update(ctx, func(tx *Tx) error {
		if err := tx.PutNewBody(m, b); err != nil {
			return err
		}
		return tx.DumpsterPutBody(dump, m, b)
	}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	backup := filepath.Join(dir, "backup.db")
	if _, err := s.WriteBackup(backup); err != nil {
		t.Fatal(err)
	}
	largest, pieces := 0, 0
	walkValues(t, backup, func(bucket, k, v []byte) {
		largest = max(largest, len(v))
		if bytes.Equal(bucket, bucketBackupSpool) {
			pieces++
		}
	})
	if largest > backupChunk {
		t.Errorf("the backup holds a value of %d bytes: a body whole, not in pieces of at most %d", largest, backupChunk)
	}
	if pieces < 8 {
		t.Errorf("%d pieces in the backup, want the body and its dumpster copy in 4 each", pieces)
	}
	if err := VerifyBackup(backup); err != nil {
		t.Fatal(err)
	}
	live := filepath.Join(dir, "data", "queue.db")
	os.MkdirAll(filepath.Dir(live), 0o700)
	if _, err := RestoreWith(backup, live, RestoreOptions{SpoolThreshold: testThreshold}); err != nil {
		t.Fatal(err)
	}
	walkValues(t, live, func(bucket, k, v []byte) {
		if bytes.Equal(bucket, bucketBackupSpool) {
			t.Fatalf("the restored database still holds bucket %s", bucket)
		}
	})
	r, err := Open(live, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var got, gotDump Body
	if err := r.View(func(tx *Tx) error {
		var err error
		if got, err = tx.BodyOf(m.ID); err != nil {
			return err
		}
		gotDump, err = tx.DumpsterBodyOf(dump)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for what, body := range map[string]Body{"message": got, "dumpster copy": gotDump} {
		if !body.Spooled() {
			t.Errorf("the restored %s is not spooled", what)
			continue
		}
		rd, err := body.Reader()
		if err != nil {
			t.Fatal(err)
		}
		all, err := io.ReadAll(rd)
		rd.Close()
		if err != nil || !bytes.Equal(all, content) {
			t.Errorf("the restored %s differs (%d bytes, want %d): %v", what, len(all), len(content), err)
		}
	}
	if f1, _, _ := got.File(); f1 != "" {
		if f2, _, _ := gotDump.File(); f1 != f2 {
			t.Errorf("the message and its dumpster copy no longer share a spool file: %s, %s", f1, f2)
		}
	}
	if files := spoolFiles(t, r); len(files) != 1 {
		t.Errorf("spool files after the restore: %v, want one", files)
	}
}
