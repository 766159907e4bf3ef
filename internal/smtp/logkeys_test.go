package smtp

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
)

// uniqueKeys is a log handler for tests that fails the test on a line
// naming one key twice (a session's logger already carries connector,
// client_ip and, after AUTH, user: a line that adds one of them again
// prints it twice in text and makes a JSON object with two equal
// keys). The servers the helpers start log through it, so every test
// that drives a session checks its lines.
type uniqueKeys struct {
	seen  *keysSeen
	attrs []string // keys of the attributes With added
}

// keysSeen collects the lines that named a key twice; the test is
// failed at its cleanup, after the server's, so that a line a session
// writes as it ends is judged too and none is reported to a test that
// has completed.
type keysSeen struct {
	mu    sync.Mutex
	done  bool
	twice []string
}

func (k *keysSeen) add(line string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.done {
		k.twice = append(k.twice, line)
	}
}

func logUniqueKeys(t testing.TB) *slog.Logger {
	seen := &keysSeen{}
	// Registered before the server's cleanup, so it runs after it.
	t.Cleanup(func() {
		seen.mu.Lock()
		defer seen.mu.Unlock()
		seen.done = true
		for _, line := range seen.twice {
			t.Errorf("a log line names a key twice: %s", line)
		}
	})
	return slog.New(&uniqueKeys{seen: seen})
}

func (h *uniqueKeys) Enabled(context.Context, slog.Level) bool { return true }

func (h *uniqueKeys) Handle(_ context.Context, r slog.Record) error {
	seen := make(map[string]bool, len(h.attrs)+r.NumAttrs())
	var twice []string
	for _, k := range h.attrs {
		if seen[k] {
			twice = append(twice, k)
		}
		seen[k] = true
	}
	r.Attrs(func(a slog.Attr) bool {
		if seen[a.Key] {
			twice = append(twice, a.Key)
		}
		seen[a.Key] = true
		return true
	})
	if len(twice) > 0 {
		h.seen.add(fmt.Sprintf("%q: %v", r.Message, twice))
	}
	return nil
}

func (h *uniqueKeys) WithAttrs(as []slog.Attr) slog.Handler {
	n := &uniqueKeys{seen: h.seen, attrs: append([]string(nil), h.attrs...)}
	for _, a := range as {
		n.attrs = append(n.attrs, a.Key)
	}
	return n
}

// WithGroup: the servers' loggers use no groups; a group's keys would
// be qualified by it, so the check starts afresh under one.
func (h *uniqueKeys) WithGroup(string) slog.Handler {
	return &uniqueKeys{seen: h.seen}
}

// The check itself: a line naming a key its logger already carries is
// caught, one that does not is not.
func TestLogLinesNameEachKeyOnce(t *testing.T) {
	seen := &keysSeen{}
	l := slog.New(&uniqueKeys{seen: seen}).With("connector", "c", "user", "u")
	l.Info("fine", "client_ip", "127.0.0.1")
	if len(seen.twice) != 0 {
		t.Fatalf("a line with distinct keys was refused: %v", seen.twice)
	}
	l.Warn("twice", "user", "u")
	if len(seen.twice) != 1 {
		t.Fatalf("a line naming user twice was not caught")
	}
}
