package pickup

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"umbra/internal/queue"
)

// SR-12: a crash after the end of a wait moved an unmarked file aside
// (.NAME.<id>.handed) and before it was settled: the next start removes
// it when it is the drop its message was submitted from, and gives any
// other file back to the scan (a new drop the application made at the
// name), never removing it unsent.
func TestSR12HandedFileLeftByACrashIsSettledAtStart(t *testing.T) {
	for _, same := range []bool{true, false} {
		name := "the submitted drop"
		if !same {
			name = "another drop"
		}
		t.Run(name, func(t *testing.T) {
			q, st, _ := realQueue(t)
			dir := t.TempDir()
			dropFile(t, dir, "app.eml", "X-Receiver: a@example.net\nSubject: one\n\nfirst\n")
			path := filepath.Join(dir, "app.eml")
			key, err := contentFileKey(path)
			if err != nil {
				t.Fatal(err)
			}
			m := &queue.Message{ID: q.NewID(), From: "s@example.org", Connector: "pickup", Helo: "app.eml", Rcpts: []queue.Recipient{{Addr: "a@example.net"}}}
			if _, _, err := q.SubmitKeyed(context.Background(), m, []byte("Subject: one\r\n\r\nfirst\r\n"), key); err != nil {
				t.Fatal(err)
			}
			if !same { // the application dropped anew before the crash
				dropFile(t, dir, "app.eml", "X-Receiver: b@example.net\nSubject: two\n\nsecond\n")
			}
			aside := handedName(path, m.ID)
			if err := os.Rename(path, aside); err != nil {
				t.Fatal(err)
			}
			w := New(Config{Dir: dir, Hostname: "hub.test", Queue: q})
			ctx, cancel := context.WithCancel(context.Background())
			defer func() { cancel(); w.wg.Wait() }()
			w.reattach(ctx)
			if _, err := os.Lstat(aside); !os.IsNotExist(err) {
				t.Fatalf("the .handed file is still there: %v", err)
			}
			_, err = os.Lstat(path)
			if same && !os.IsNotExist(err) {
				t.Fatalf("the handed-on drop was given back: %v", err)
			}
			if !same {
				if err != nil {
					t.Fatalf("another drop was removed unsent: %v", err)
				}
				w.Scan(ctx)
				if n := len(queued(t, st)); n != 2 {
					t.Fatalf("the drop given back: %d messages, want 2", n)
				}
			}
		})
	}
}
