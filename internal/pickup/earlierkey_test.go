package pickup

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"umbra/internal/queue"
)

// SR-12: a file an earlier release submitted under its key rule (with
// the device and change time) and left unmarked is found submitted
// after the upgrade: marked with its message, not queued again; its key
// is kept while the file lingers.
func TestSR12FileSubmittedUnderTheEarlierKeyNotSubmittedTwice(t *testing.T) {
	q, st, _ := realQueue(t)
	dir := t.TempDir()
	release, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	dropFile(t, dir, "old.eml", "X-Receiver: a@example.net\nSubject: x\n\nhi\n")
	path := filepath.Join(dir, "old.eml")
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	key := earlierFileKey(path, fi)
	m := &queue.Message{ID: q.NewID(), From: "s@example.org", Connector: "pickup", Helo: "old.eml", Rcpts: []queue.Recipient{{Addr: "a@example.net"}}}
	if _, _, err := q.SubmitKeyed(context.Background(), m, []byte("Subject: x\r\n\r\nhi\r\n"), key); err != nil {
		t.Fatal(err)
	}
	if KeyFileGone(dir)("old.eml", key) {
		t.Error("the earlier release's key of a file still there: gone")
	}
	w := New(Config{Dir: dir, Hostname: "hub.test", Queue: q})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); w.wg.Wait() }()
	w.Scan(ctx)
	if ms := queued(t, st); len(ms) != 1 {
		t.Fatalf("the file the earlier release submitted was submitted again: %d messages", len(ms))
	}
	if _, err := os.Stat(filepath.Join(dir, "old."+m.ID.String()+".queued")); err != nil {
		t.Fatalf("the file is not marked with its message: %v", err)
	}
}
