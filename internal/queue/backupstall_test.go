package queue

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// stalledWriter takes the first write and then blocks, like a backup
// client stopped with SIGSTOP whose socket buffer is full.
type stalledWriter struct {
	first   chan struct{}
	release chan struct{}
	n       int
}

func (w *stalledWriter) Write(p []byte) (int, error) {
	if w.n == 0 {
		close(w.first)
	}
	w.n++
	<-w.release
	return len(p), nil
}

// A backup whose reader stops must not hold the database: a commit that
// grows the file (a new mmap, which waits for every read transaction)
// goes on while the client is stopped.
func TestBackupStalledClientDoesNotBlockGrowingCommit(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(filepath.Join(dir, "umbra.db"), Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w := &stalledWriter{first: make(chan struct{}), release: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		_, err := s.Backup(w, nil)
		done <- err
	}()
	select {
	case <-w.first:
	case <-time.After(20 * time.Second):
		t.Fatal("the backup never wrote")
	}
	committed := make(chan error, 1)
	go func() {
		// Grow the file well past its current mapping.
		big := bytes.Repeat([]byte("x"), 1<<20)
		for i := 0; i < 40; i++ {
			err := s.db.Update(func(tx *bolt.Tx) error {
				b, err := tx.CreateBucketIfNotExists([]byte("test-grow"))
				if err != nil {
					return err
				}
				return b.Put([]byte(fmt.Sprint(i)), big)
			})
			if err != nil {
				committed <- err
				return
			}
		}
		committed <- nil
	}()
	select {
	case err := <-committed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Minute): // blocked, it would wait for ever; 40 MiB under -race on a loaded machine can take 20 s
		close(w.release)
		<-done
		t.Fatal("a commit that grows the database waited for a stalled backup client")
	}
	close(w.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// No snapshot is left in the data directory.
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.Name() != "umbra.db" && e.Name() != "umbra.db.lock" && e.Name() != "spool" { // spool: the spool directory (body.go)
			t.Errorf("left behind: %s", e.Name())
		}
	}
	_ = io.Discard
}

// A snapshot left by a daemon killed mid-backup is deleted at the next
// Open (which holds the file's lock).
func TestOpenRemovesStaleBackupSnapshot(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "umbra.db")
	stale := filepath.Join(dir, ".umbra.db.snapshot-123")
	other := filepath.Join(dir, ".other.db.snapshot-1")
	os.WriteFile(stale, []byte("x"), 0o600)
	os.WriteFile(other, []byte("x"), 0o600)
	s, err := Open(path, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := os.Stat(stale); err == nil {
		t.Error("the stale snapshot is left")
	}
	if _, err := os.Stat(other); err != nil {
		t.Error("another database's file was deleted")
	}
}
