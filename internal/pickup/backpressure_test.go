package pickup

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"umbra/internal/queue"
)

// At high back pressure the pickup directory is new mail like any other:
// Scan submits nothing and the files wait where they are; once the level
// falls they are submitted.
func TestPickupPausedByBackPressure(t *testing.T) {
	dir := t.TempDir()
	q := &fakeQueue{handed: map[queue.ID]chan struct{}{}}
	paused := true
	w := New(Config{Dir: dir, Hostname: "hub.test", Queue: q, Paused: func() bool { return paused }})
	os.WriteFile(filepath.Join(dir, "one.eml"), []byte("X-Receiver: a@example.test\nSubject: x\n\nhi\n"), 0o600)
	w.Scan(context.Background())
	if len(q.msgs) != 0 {
		t.Fatal("submitted while paused")
	}
	if _, err := os.Stat(filepath.Join(dir, "one.eml")); err != nil {
		t.Fatal("the file did not wait in the directory")
	}
	paused = false
	w.Scan(context.Background())
	if len(q.msgs) != 1 {
		t.Fatalf("%d submitted after the pause", len(q.msgs))
	}
}
