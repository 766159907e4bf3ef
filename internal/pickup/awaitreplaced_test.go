package pickup

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"umbra/internal/queue"
)

// SR-12: a file whose mark failed (NAME.eml, awaited unmarked) was
// removed by path once its message was handed on. A new drop under the
// same name meanwhile — renamed in, or the same file rewritten in place
// with its mtime set back — is skipped by every scan while the name is
// busy: it must be kept and submitted, never removed unsent.
func TestSR12NewDropUnderAnAwaitedUnmarkedNameIsNotRemovedUnsent(t *testing.T) {
	for _, how := range []string{"renamed in", "rewritten in place, mtime set back"} {
		t.Run(how, func(t *testing.T) {
			dir := t.TempDir()
			q := &fakeQueue{handed: map[queue.ID]chan struct{}{}}
			w := New(Config{Dir: dir, Hostname: "hub.test", Queue: q})
			w.rename = func(string, string) error { return errors.New("no space left on device") }
			ctx, cancel := context.WithCancel(context.Background())
			defer func() { cancel(); w.wg.Wait() }()
			first := "X-Receiver: a@example.net\nSubject: one\n\nfirst\n"
			second := "X-Receiver: b@example.net\nSubject: two\n\nsecnd\n"
			dropFile(t, dir, "app.eml", first)
			path := filepath.Join(dir, "app.eml")
			fi := mustLstat(t, path)
			w.Scan(ctx)
			q.mu.Lock()
			n := len(q.msgs)
			q.mu.Unlock()
			if n != 1 {
				t.Fatalf("%d messages after the first scan", n)
			}
			// The second drop, while the first is awaited unmarked.
			if how == "renamed in" {
				dropFile(t, dir, "app.eml", second)
			} else {
				if err := os.WriteFile(path, []byte(second), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
					t.Fatal(err)
				}
			}
			w.Scan(ctx)
			// The first message is handed on.
			q.mu.Lock()
			close(q.handed[1])
			q.mu.Unlock()
			time.Sleep(100 * time.Millisecond)
			w.Scan(ctx)
			time.Sleep(50 * time.Millisecond)
			q.mu.Lock()
			n = len(q.msgs)
			q.mu.Unlock()
			if n != 2 {
				_, err := os.Stat(path)
				t.Fatalf("the second drop of app.eml: %d messages, want 2 (the file: %v)", n, err)
			}
			q.mu.Lock()
			to := q.msgs[len(q.msgs)-1].Rcpts[0].Addr
			q.mu.Unlock()
			if to != "b@example.net" {
				t.Fatalf("the second message goes to %s, want the second drop's b@example.net", to)
			}
		})
	}
}
