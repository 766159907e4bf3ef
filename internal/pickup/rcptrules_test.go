package pickup

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/queue"
)

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuf) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// A pickup file's recipients pass RCPT's address rules (SR-12): a domain
// that is IP-address text (550 5.1.2 at RCPT), an address literal, a
// malformed address — the file is set aside as NAME.bad with the reason
// RCPT would give, nothing is queued, and no DSN is made later.
func TestPickupRecipientsFollowRcptRules(t *testing.T) {
	for name, rcpt := range map[string]string{
		"iptext":  "X-Receiver: u@192.0.2.1",
		"iptext6": "X-Receiver: u@2001:db8::1",
		"to":      "To: u@192.0.2.1",
		"literal": "X-Receiver: <u@[192.0.2.1]>",
		"dotted":  "X-Receiver: u@example..test",
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, err := Parse([]byte(rcpt+"\nSubject: x\n\nhi\n"), nil); err == nil {
				t.Fatalf("%q: parsed", rcpt)
			}
			dir := t.TempDir()
			q := &fakeQueue{handed: map[queue.ID]chan struct{}{}}
			logs := &lockedBuf{}
			w := New(Config{Dir: dir, Interval: 10 * time.Millisecond, Hostname: "hub.test", Queue: q,
				Log: slog.New(slog.NewTextHandler(logs, nil))})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			// Beside a good recipient of the same kind (X-Receiver makes
			// To: no envelope): the file is refused whole, as one message.
			good, _, _ := strings.Cut(rcpt, ":")
			os.WriteFile(filepath.Join(dir, "app.eml"), []byte(good+": ok@example.test\n"+rcpt+"\nSubject: x\n\nhi\n"), 0o600)
			go w.Run(ctx)
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
				// The line follows the rename (Watcher.refuse): wait for
				// both, or a reader between them sees no line yet.
				if _, err := os.Stat(filepath.Join(dir, "app.bad")); err == nil && strings.Contains(logs.String(), "pickup file refused") {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("file not set aside; logs: %s", logs)
				}
			}
			q.mu.Lock()
			n := len(q.msgs)
			q.mu.Unlock()
			if n != 0 {
				t.Errorf("%d messages queued", n)
			}
			if l := logs.String(); !strings.Contains(l, "pickup file refused") || !strings.Contains(l, "5.1.") {
				t.Errorf("log %q: want the refusal with RCPT's status", l)
			}
		})
	}
}
