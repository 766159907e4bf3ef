package pickup

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// SR-12: an unmarked pickup file (its rename to .queued keeps failing)
// that an application rewrites in place with new content of the same
// size, and whose modification time a tool sets back (touch -r, cp -p
// onto the same file), is another drop: its content must be submitted.
// Inode, size, mtime and birth time all stay; only the content tells.
// Both the in-memory and the spooled path.
func TestSR12RewriteInPlaceSameSizeAndMtimeIsANewDrop(t *testing.T) {
	for _, spooled := range []bool{false, true} {
		name := "in-memory"
		if spooled {
			name = "spooled"
		}
		t.Run(name, func(t *testing.T) {
			q, st, _ := realQueue(t)
			dir := t.TempDir()
			pad := ""
			if spooled {
				pad = strings.Repeat("x", 2048) + "\n"
			}
			first := "X-Receiver: a@example.net\nSubject: one\n\nfirst " + pad
			second := "X-Receiver: b@example.net\nSubject: two\n\nsecnd " + pad
			if len(first) != len(second) {
				t.Fatal("contents of different sizes")
			}
			dropFile(t, dir, "app.eml", first)
			path := filepath.Join(dir, "app.eml")
			fi, err := os.Lstat(path)
			if err != nil {
				t.Fatal(err)
			}
			mtime := fi.ModTime()
			cfg := Config{Dir: dir, Hostname: "hub.test", Queue: q}
			if spooled {
				cfg.Spool, cfg.SpoolThreshold = st.NewSpool, 1024
			}
			scan := func() {
				w := New(cfg)
				w.rename = func(string, string) error { return errors.New("read-only directory") }
				ctx, cancel := context.WithCancel(context.Background())
				w.Scan(ctx)
				cancel()
				w.wg.Wait()
			}
			scan()
			if n := len(queued(t, st)); n != 1 {
				t.Fatalf("%d messages after the first scan", n)
			}
			// The application rewrites the same file in place; the
			// modification time is set back.
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt([]byte(second), 0); err != nil {
				t.Fatal(err)
			}
			f.Close()
			if err := os.Chtimes(path, time.Now(), mtime); err != nil {
				t.Fatal(err)
			}
			scan()
			ms := queued(t, st)
			if len(ms) != 2 {
				t.Fatalf("the rewritten content was not submitted: %d messages, want 2", len(ms))
			}
			var to []string
			for _, m := range ms {
				to = append(to, m.Rcpts[0].Addr)
			}
			if !strings.Contains(strings.Join(to, " "), "b@example.net") {
				t.Fatalf("recipients queued %v, want b@example.net among them", to)
			}
		})
	}
}
