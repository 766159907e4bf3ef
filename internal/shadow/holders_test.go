package shadow

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
)

type fakeHolderStore struct {
	holders map[string]int
	single  []uint64
}

func (f *fakeHolderStore) Holders() (map[string]int, error) { return f.holders, nil }
func (f *fakeHolderStore) SingleCopies() ([]uint64, error)  { return f.single, nil }

type fakeCopier struct {
	mu     sync.Mutex // probes run at once (probeAll)
	probed []string
	newDB  map[string][]uint64 // a probe of the server marks these
	store  *fakeHolderStore
	down   bool // no shadow server takes a copy
	made   []uint64
	fail   map[string]error // a probe of the server fails so
}

func (f *fakeCopier) Probe(_ context.Context, server string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.probed = append(f.probed, server)
	if err := f.fail[server]; err != nil {
		return "", err
	}
	f.store.single = append(f.store.single, f.newDB[server]...)
	delete(f.newDB, server)
	return "db", nil
}

func (f *fakeCopier) Recopy(_ context.Context, id uint64) (string, error) {
	if f.down {
		return "", errors.New("no shadow server took the copy")
	}
	f.made = append(f.made, id)
	for i, s := range f.store.single {
		if s == id {
			f.store.single = append(f.store.single[:i], f.store.single[i+1:]...)
			break
		}
	}
	return "hub-c", nil
}

// rt23 NEW-4: a pass probes every server named as a holder, and makes
// again the copies of the messages its probe found lost; while no
// shadow server takes them, they stay marked and the log says how many,
// once, until the count changes.
func TestHoldersPassMakesLostCopiesAgain(t *testing.T) {
	st := &fakeHolderStore{holders: map[string]int{"hub-b": 2, "hub-c": 1}}
	cp := &fakeCopier{store: st, newDB: map[string][]uint64{"hub-b": {7, 9}}, down: true}
	var logBuf bytes.Buffer
	h := NewHolders(HoldersConfig{Store: st, Copier: cp, Log: slog.New(slog.NewTextHandler(&logBuf, nil))})
	if left := h.Pass(context.Background()); left != 2 {
		t.Fatalf("left %d with no shadow server, want 2", left)
	}
	sort.Strings(cp.probed) // probed at once: in any order
	if strings.Join(cp.probed, ",") != "hub-b,hub-c" {
		t.Fatalf("probed %v, want both holders", cp.probed)
	}
	if h.Pass(context.Background()) != 2 || strings.Count(logBuf.String(), "messages held by this server only") != 1 {
		t.Fatalf("the count is not logged once:\n%s", logBuf.String())
	}
	cp.down = false
	if left := h.Pass(context.Background()); left != 0 || len(cp.made) != 2 || len(st.single) != 0 {
		t.Fatalf("left %d, made %v, marks %v; want both copies made", left, cp.made, st.single)
	}
	if !strings.Contains(logBuf.String(), "every message held here has its shadow copy again") {
		t.Fatalf("the recovery is not logged:\n%s", logBuf.String())
	}
}

// The start's AskFirst probe is the first pass's: a holder it reached is
// not probed again seconds later by that pass (a second session, a
// second round of questions), while the copies its probe found lost are
// made again by the pass all the same. The next pass probes every holder.
func TestHoldersFirstPassSkipsHoldersAskedFirst(t *testing.T) {
	st := &fakeHolderStore{holders: map[string]int{"hub-b": 2, "hub-c": 1}}
	cp := &fakeCopier{store: st, newDB: map[string][]uint64{"hub-b": {7}}}
	h := NewHolders(HoldersConfig{Store: st, Copier: cp})
	h.AskFirst(context.Background())
	if left := h.Pass(context.Background()); left != 0 || len(cp.made) != 1 {
		t.Fatalf("first pass: left %d, made %v; want the copy AskFirst found lost made", left, cp.made)
	}
	sort.Strings(cp.probed)
	if strings.Join(cp.probed, ",") != "hub-b,hub-c" {
		t.Fatalf("probed %v by AskFirst and the first pass, want each holder once", cp.probed)
	}
	h.Pass(context.Background())
	if len(cp.probed) != 4 {
		t.Fatalf("probed %v after a second pass, want every holder again", cp.probed)
	}
}

// probeRefusal is a holder's refusal of a probe (delivery's
// probeRefusedError): it answered.
type probeRefusal struct{ reply string }

func (e probeRefusal) Error() string   { return "refused the shadow session: " + e.reply }
func (e probeRefusal) Refusal() string { return e.reply }

// rt39 F3: a holder that answers and refuses this server's probe (its
// topology reloaded without this server) is not "not reachable since the
// start": the start's WARN says it refused, and why; one that does not
// answer is still named not reachable.
func TestHoldersRefusingAreNotCalledUnreachable(t *testing.T) {
	st := &fakeHolderStore{holders: map[string]int{"hub-b": 2, "hub-c": 1}}
	cp := &fakeCopier{store: st, fail: map[string]error{
		"hub-b": probeRefusal{"550 5.7.1 Server id is not a server of the organisation"},
		"hub-c": errors.New("dial tcp 127.0.0.191:10999: connect: connection refused"),
	}}
	var logBuf bytes.Buffer
	h := NewHolders(HoldersConfig{Store: st, Copier: cp, Log: slog.New(slog.NewTextHandler(&logBuf, nil))})
	h.AskFirst(context.Background())
	var refused, down string
	for _, l := range strings.Split(logBuf.String(), "\n") {
		switch {
		case strings.Contains(l, "shadow servers refused"):
			refused = l
		case strings.Contains(l, "not reachable since the start"):
			down = l
		}
	}
	if !strings.Contains(refused, "not a server of their organisation's topology") || !strings.Contains(refused, "shadow_servers=hub-b ") ||
		!strings.Contains(refused, "messages=2") {
		t.Errorf("no WARN that hub-b refused, not a server of its topology:\n%s", logBuf.String())
	}
	if !strings.Contains(down, "shadow_servers=hub-c ") {
		t.Errorf("hub-c, which did not answer, is not named not reachable:\n%s", logBuf.String())
	}
}
