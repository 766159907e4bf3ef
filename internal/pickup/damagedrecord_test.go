package pickup

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"umbra/internal/queue"
)

// SR-12 (reread of the pickup fates): a pickup file's message whose record the start
// finds damaged (set aside: nothing of it is delivered, its envelope is
// not known) must not cost the file — the file is the message's only
// sound copy. queue.Manager.PickupFate says "queued: the file waits",
// but WaitHandedOn closes at once for a damaged record (no pending
// recipient), so the watcher deletes the file at the start.
func TestSR12DamagedRecordKeepsPickupFile(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(t.TempDir(), "queue.db")
	s, err := queue.Open(dbPath, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	q := queue.NewManager(s, nil, queue.ManagerConfig{Hostname: "hub.test"}) // never started: nothing is delivered
	w := New(Config{Dir: dir, Interval: 10 * time.Millisecond, Hostname: "hub.test", Queue: q})
	if err := os.WriteFile(filepath.Join(dir, "f1.eml"), []byte("X-Sender: app@example.org\nX-Receiver: ops@remote.example\nSubject: x\n\nhi\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.Scan(ctx)
	queued, _ := filepath.Glob(filepath.Join(dir, "f1.*.queued"))
	if len(queued) != 1 {
		cancel()
		t.Fatalf("the file was not submitted and marked: %v", queued)
	}
	cancel()
	w.wg.Wait()
	s.Close()

	// The record does not decode any more (a disk's damage).
	db, err := bolt.Open(dbPath, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("messages"))
		k, v := b.Cursor().First()
		if k == nil {
			t.Fatal("no record")
		}
		bad := bytes.Clone(v)
		for i := 1; i < len(bad) && i < 21; i++ {
			bad[i] = 0xff
		}
		return b.Put(bytes.Clone(k), bad)
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err = queue.Open(dbPath, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if len(s.DamagedAtOpen()) != 1 {
		t.Fatalf("the record was not set aside as damaged: %+v", s.DamagedAtOpen())
	}
	q = queue.NewManager(s, nil, queue.ManagerConfig{Hostname: "hub.test"})
	ctx, cancel = context.WithCancel(context.Background())
	w = New(Config{Dir: dir, Interval: 10 * time.Millisecond, Hostname: "hub.test", Queue: q})
	w.reattach(ctx)
	time.Sleep(100 * time.Millisecond)
	cancel()
	w.wg.Wait()
	left, _ := filepath.Glob(filepath.Join(dir, "f1.*"))
	if len(left) == 0 {
		t.Fatalf("the pickup file of a message whose record is damaged (never delivered, its envelope unknown) was deleted at the start: the message is lost")
	}
}
