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

// OPS-3, SR-8 (rt36 F2): a holder that held no copy of a message pending
// here when this server started (the start's probes did not name it)
// can have taken nothing over while this server was away: every copy it
// holds was made since the start. hub-b first takes a copy after the
// start, and goes down before any probe reached it; Unreached must not
// name it (shadow single listed it under "not reachable since this
// server's start … may arrive twice" with the note UnreachedNote).
func TestHolderFirstNamedAfterStartIsNotUnreached(t *testing.T) {
	var logBuf bytes.Buffer
	st := &fakeHolderStore{holders: map[string]int{"hub-c": 1}}
	cp := &downCopier{fakeCopier: fakeCopier{store: st}, down: map[string]bool{"hub-b": true}}
	h := NewHolders(HoldersConfig{Store: st, Copier: cp, Log: slog.New(slog.NewTextHandler(&logBuf, nil))})
	h.AskFirst(context.Background())
	h.Pass(context.Background())
	st.holders = map[string]int{"hub-c": 1, "hub-b": 1} // a copy made on hub-b after the start; hub-b then went down
	h.Pass(context.Background())
	if u := h.Unreached(); len(u) != 0 {
		t.Fatalf("unreached: %v; hub-b holds only copies made since the start", u)
	}
	if strings.Contains(logBuf.String(), "not reachable since the start") {
		t.Fatalf("the WARN names a holder of copies made since the start:\n%s", logBuf.String())
	}
	// One named at the start and down since is named, as before.
	st2 := &fakeHolderStore{holders: map[string]int{"hub-b": 1}}
	cp2 := &downCopier{fakeCopier: fakeCopier{store: st2}, down: map[string]bool{"hub-b": true}}
	h2 := NewHolders(HoldersConfig{Store: st2, Copier: cp2})
	h2.AskFirst(context.Background())
	h2.Pass(context.Background())
	if _, ok := h2.Unreached()["hub-b"]; !ok {
		t.Fatal("a holder named at the start and down since is not named unreached")
	}
}
