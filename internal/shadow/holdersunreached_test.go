package shadow

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

// downCopier is a Copier whose probes of the servers in down fail (the
// holder is not running).
type downCopier struct {
	fakeCopier
	down map[string]bool
}

func (f *downCopier) Probe(ctx context.Context, server string) (string, error) {
	f.mu.Lock()
	down := f.down[server]
	f.mu.Unlock()
	if down {
		return "", errors.New("dial tcp: connection refused")
	}
	return f.fakeCopier.Probe(ctx, server)
}

// SR-8, OPS-3 (rt30a F2): this server comes back with its database
// while a holder of its copies is down; the holder may have taken them
// over and delivered them while this server was away (README, the
// duplicate window 1), and this server cannot ask it what it finished.
// The start says so (WARN, with the holders and their messages), and
// Unreached names the holders no probe reached since the start, until
// one does.
func TestHoldersNotReachedSinceStartAreNamed(t *testing.T) {
	var logBuf bytes.Buffer
	st := &fakeHolderStore{holders: map[string]int{"hub-b": 3, "hub-c": 1}}
	cp := &downCopier{fakeCopier: fakeCopier{store: st}, down: map[string]bool{"hub-b": true}}
	h := NewHolders(HoldersConfig{Store: st, Copier: cp, Log: slog.New(slog.NewTextHandler(&logBuf, nil))})
	if len(h.Unreached()) != 0 {
		t.Fatal("a holder named unreached before any probe")
	}
	h.AskFirst(context.Background())
	u := h.Unreached()
	if _, ok := u["hub-b"]; !ok || len(u) != 1 {
		t.Fatalf("unreached after the start's probes: %v, want hub-b alone", u)
	}
	log := logBuf.String()
	if !strings.Contains(log, "level=WARN") || !strings.Contains(log, "not reachable since the start") || !strings.Contains(log, "hub-b") || !strings.Contains(log, "messages=3") {
		t.Fatalf("the start does not say which holder it could not ask:\n%s", log)
	}
	h.Pass(context.Background()) // still down
	if _, ok := h.Unreached()["hub-b"]; !ok {
		t.Fatal("hub-b, still down, no longer named unreached")
	}
	cp.mu.Lock()
	cp.down["hub-b"] = false
	cp.mu.Unlock()
	h.Pass(context.Background())
	if len(h.Unreached()) != 0 {
		t.Fatalf("hub-b answered a probe; still unreached: %v", h.Unreached())
	}
}
