package shadow

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// restoredCopier is a downCopier of a database restored from a backup:
// it names the transport servers not yet heard whole (PredecessorAsker),
// and a probe that answered is heard.
type restoredCopier struct {
	downCopier
	servers []string
	mu2     sync.Mutex
	heard   map[string]bool
}

func (f *restoredCopier) Probe(ctx context.Context, server string) (string, error) {
	id, err := f.downCopier.Probe(ctx, server)
	if err == nil {
		f.mu2.Lock()
		f.heard[server] = true
		f.mu2.Unlock()
	}
	return id, err
}

func (f *restoredCopier) Unasked() []string {
	f.mu2.Lock()
	defer f.mu2.Unlock()
	var out []string
	for _, s := range f.servers {
		if !f.heard[s] {
			out = append(out, s)
		}
	}
	return out
}

// SR-6 after `umbra db restore` of a holder (queue restoredhanded.go):
// the start's ask and each pass also probe every transport server the
// restored database has not heard whole yet, whether it holds copies of
// this server's messages or not — after the holders, so a server that
// holds nothing takes none of their time — and such a server that is
// down is not named a holder not reached (it holds none of this
// server's copies); one heard is not probed again for it.
func TestHoldersOfRestoredDatabaseAskEveryTransportServer(t *testing.T) {
	var logBuf bytes.Buffer
	st := &fakeHolderStore{holders: map[string]int{"hub-d": 1}}
	cp := &restoredCopier{downCopier: downCopier{fakeCopier: fakeCopier{store: st}, down: map[string]bool{"hub-a": true}},
		servers: []string{"hub-a", "hub-c", "hub-d"}, heard: map[string]bool{}}
	h := NewHolders(HoldersConfig{Store: st, Copier: cp, Log: slog.New(slog.NewTextHandler(&logBuf, nil))})
	h.AskFirst(context.Background())
	cp.mu.Lock()
	probed := strings.Join(cp.probed, ",")
	cp.mu.Unlock()
	if !strings.HasPrefix(probed, "hub-d,") || !strings.Contains(probed, "hub-c") {
		t.Fatalf("probed %q: want the holder hub-d first, then hub-c", probed)
	}
	if len(h.Unreached()) != 0 {
		t.Fatalf("a server that holds none of this server's copies named unreached: %v", h.Unreached())
	}
	if got := cp.Unasked(); len(got) != 1 || got[0] != "hub-a" {
		t.Fatalf("not heard: %v, want hub-a (down)", got)
	}
	if !strings.Contains(logBuf.String(), "transport server not asked which copies of the database this one was restored from it holds") {
		t.Fatalf("the log does not say hub-a was not asked:\n%s", logBuf.String())
	}
	cp.mu.Lock()
	cp.probed, cp.down["hub-a"] = nil, false
	cp.mu.Unlock()
	h.Pass(context.Background())
	cp.mu.Lock()
	probed = strings.Join(cp.probed, ",")
	cp.mu.Unlock()
	if strings.Contains(probed, "hub-c") || !strings.Contains(probed, "hub-a") {
		t.Fatalf("the pass probed %q: want hub-a again, not hub-c (heard)", probed)
	}
	if got := cp.Unasked(); len(got) != 0 {
		t.Fatalf("not heard after the pass: %v", got)
	}
}
