package pickup

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/queue"
)

// A file that fails at every scan is logged once, not at every interval
// (OPS-: a log an operator reads): again only when the file changes, and
// after it succeeded. Two failures that repeat: the queue refuses the
// submission (tried again later), and a refused file that cannot be
// renamed .bad (a directory of that name is in the way).
func TestPickupFailureLoggedOnce(t *testing.T) {
	dir := t.TempDir()
	logs := &bytes.Buffer{} // Scan logs before it returns
	q := &fakeQueue{handed: map[queue.ID]chan struct{}{}, failing: true}
	w := New(Config{Dir: dir, Hostname: "hub.test", Queue: q, Log: slog.New(slog.NewTextHandler(logs, nil))})
	ctx := context.Background()
	good := filepath.Join(dir, "good.eml")
	os.WriteFile(good, []byte("X-Receiver: a@example.test\nSubject: x\n\nhi\n"), 0o600)
	bad := filepath.Join(dir, "broken.eml")
	os.WriteFile(bad, []byte("no headers"), 0o600)
	if err := os.MkdirAll(filepath.Join(dir, "broken.bad", "in-the-way"), 0o700); err != nil {
		t.Fatal(err)
	}
	const notSubmitted, refused = "pickup file not submitted", "pickup file refused"
	for range 5 {
		w.Scan(ctx)
	}
	if n, m := strings.Count(logs.String(), notSubmitted), strings.Count(logs.String(), refused); n != 1 || m != 1 {
		t.Fatalf("5 scans: %d %q and %d %q, want each once\n%s", n, notSubmitted, m, refused, logs.String())
	}
	if _, err := os.Stat(bad); err != nil {
		t.Fatalf("the refused file that could not be renamed: %v", err)
	}

	// The file changes: its failure is news.
	os.WriteFile(good, []byte("X-Receiver: b@example.test\nSubject: y\n\nhello\n"), 0o600)
	future := time.Now().Add(time.Hour)
	os.Chtimes(good, future, future)
	for range 3 {
		w.Scan(ctx)
	}
	if n := strings.Count(logs.String(), notSubmitted); n != 2 {
		t.Fatalf("after a change: %d %q, want 2\n%s", n, notSubmitted, logs.String())
	}

	// It succeeds; a later failure of a new drop of that name is logged.
	q.mu.Lock()
	q.failing = false
	q.mu.Unlock()
	w.Scan(ctx)
	if strings.Count(logs.String(), "pickup file submitted") != 1 {
		t.Fatalf("not submitted once the queue took it:\n%s", logs.String())
	}
	q.mu.Lock()
	q.failing = true
	q.mu.Unlock()
	os.WriteFile(good, []byte("X-Receiver: a@example.test\nSubject: x\n\nhi\n"), 0o600)
	for range 3 {
		w.Scan(ctx)
	}
	if n := strings.Count(logs.String(), notSubmitted); n != 3 {
		t.Fatalf("a new drop after a success: %d %q, want 3\n%s", n, notSubmitted, logs.String())
	}
	if n := strings.Count(logs.String(), refused); n != 1 {
		t.Fatalf("%d %q, want 1", n, refused)
	}
}

// The same file failing under the same message for another reason is
// news (pickup/doc.go, README: "the failure changes"): logged again,
// once.
func TestPickupFailureLoggedWhenErrorChanges(t *testing.T) {
	dir := t.TempDir()
	logs := &bytes.Buffer{}
	q := &fakeQueue{handed: map[queue.ID]chan struct{}{}, failing: true, failErr: errors.New("disk full")}
	w := New(Config{Dir: dir, Hostname: "hub.test", Queue: q, Log: slog.New(slog.NewTextHandler(logs, nil))})
	ctx := context.Background()
	os.WriteFile(filepath.Join(dir, "good.eml"), []byte("X-Receiver: a@example.test\nSubject: x\n\nhi\n"), 0o600)
	const notSubmitted = "pickup file not submitted"
	for range 3 {
		w.Scan(ctx)
	}
	q.mu.Lock()
	q.failErr = errors.New("database closed")
	q.mu.Unlock()
	for range 3 {
		w.Scan(ctx)
	}
	out := logs.String()
	if n := strings.Count(out, notSubmitted); n != 2 || !strings.Contains(out, "disk full") || !strings.Contains(out, "database closed") {
		t.Fatalf("%d %q, want 2: one per error\n%s", n, notSubmitted, out)
	}
}
