package shadow

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

// SR-8, OPS (after a stall): the process stops (SIGSTOP) for
// longer than a takeover takes; hub-b, reached by a probe before the
// stall, takes the copies over while this server is away and delivers
// them, and is down when this server resumes. The ask after the stall
// (Ask) is documented as a "came back" like the start's, and rt36 F2
// names its holders as those that may have taken copies over — but a
// probe that reached hub-b before the stall still counts: hub-b is never
// named unreached, nor WARNed, and the originals here are delivered a
// second time with no word of it.
func TestHolderReachedBeforeStallDownAfterIsUnreached(t *testing.T) {
	var logBuf bytes.Buffer
	st := &fakeHolderStore{holders: map[string]int{"hub-b": 2}}
	cp := &downCopier{fakeCopier: fakeCopier{store: st}, down: map[string]bool{}}
	h := NewHolders(HoldersConfig{Store: st, Copier: cp, Log: slog.New(slog.NewTextHandler(&logBuf, nil))})
	h.AskFirst(context.Background())
	h.Pass(context.Background())
	if len(h.Unreached()) != 0 {
		t.Fatalf("unreached at the start: %v", h.Unreached())
	}
	// The stall: hub-b took the copies over meanwhile and is down now.
	cp.mu.Lock()
	cp.down["hub-b"] = true
	cp.mu.Unlock()
	h.Ask(context.Background())
	if _, ok := h.Unreached()["hub-b"]; !ok {
		t.Fatalf("hub-b, down since this server came back from the stall, is not named unreached: %v", h.Unreached())
	}
	if !strings.Contains(logBuf.String(), "not reachable since") {
		t.Fatalf("no WARN after the stall:\n%s", logBuf.String())
	}
}
