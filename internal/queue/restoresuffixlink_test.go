package queue

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// OPS-3: db restore, run as root, writes the replaced
// database's suffix to queue.db.restore-suffix in the data directory —
// the daemon's user's — with os.OpenFile(O_CREATE|O_TRUNC), following a
// symlink planted at that name: the file the link names is truncated
// and overwritten with ".replaced-TIME". The sibling of queue.db.restore,
// which datadirfiles.go's createFresh makes afresh.
func TestOPS3RestoreSuffixDoesNotFollowAPlantedLink(t *testing.T) {
	ctx := context.Background()
	src, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := msg(src, "a@example.org", "b@example.test")
	m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
	if err := src.Update(ctx, func(tx *Tx) error { return tx.PutNew(m, []byte("From: a@example.org\r\n\r\nbacked up\r\n")) }); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(t.TempDir(), "backup.db")
	if _, err := src.WriteBackup(backup); err != nil {
		t.Fatal(err)
	}
	src.Close()

	path := filepath.Join(t.TempDir(), "data", "queue.db")
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	victim := filepath.Join(t.TempDir(), "shadow")
	const content = "root:$6$secret:19000:0:99999:7:::\n"
	if err := os.WriteFile(victim, []byte(content), 0o640); err != nil {
		t.Fatal(err)
	}
	// Planted by the daemon's user while umbra was stopped.
	if err := os.Symlink(victim, path+asideSuffixName); err != nil {
		t.Fatal(err)
	}
	_, err = RestoreWith(backup, path, RestoreOptions{SpoolThreshold: testThreshold,
		Lost: func([]NotInBackup, bool) error { return nil }})
	t.Logf("restore: %v", err)
	b, err := os.ReadFile(victim)
	if err != nil {
		t.Fatalf("the file the planted link names: %v", err)
	}
	if string(b) != content {
		t.Errorf("db restore wrote through the symlink queue.db.restore-suffix into %s: now %q, was %q", victim, b, content)
	}
}
