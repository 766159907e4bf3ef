package delivery

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"umbra/internal/queue"
	"umbra/internal/routing"
)

// SR-17, SR-13 (shadow30 item 1): a stored refusal of a holder's
// sessions (bucket refusedhere) is kept while the server is in the
// topology and dropped, with a log line, once it is not: at the start
// (a real bbolt file, closed and opened again with a topology without
// the server) and at a reload that removes it. shadow list
// (RefusedHolders) never shows a removed server as refused.
func TestSR17StoredRefusalOfRemovedServerPruned(t *testing.T) {
	hubB := routing.Server{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: "127.0.0.131:8001"}
	hubD := routing.Server{Name: "hub-d", Role: routing.RoleHub, Site: "b", Address: "127.0.0.131:8002"}
	path := filepath.Join(t.TempDir(), "queue.db")
	var q *queue.Manager
	start := func(topo *routing.Topology) (*ReceiptShadow, *queue.Store, *bytes.Buffer) {
		store, err := queue.Open(path, queue.Options{})
		if err != nil {
			t.Fatal(err)
		}
		q = queue.NewManager(store, queue.DelivererFunc(func(context.Context, *queue.Message, []byte, []int) []queue.Result { return nil }),
			queue.ManagerConfig{Hostname: "umbra.test"})
		var buf bytes.Buffer
		d, err := New(Config{Log: slog.New(slog.NewTextHandler(&buf, nil)), Topology: topo, LocalServer: "hub-a"})
		if err != nil {
			t.Fatal(err)
		}
		return NewReceiptShadow(d, store.DatabaseID()).WithHolders(q), store, &buf
	}
	stored := func() map[string]bool {
		t.Helper()
		m, err := q.SessionsRefusedHere()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for k := range m {
			out[k] = true
		}
		return out
	}
	listed := func(r *ReceiptShadow) map[string]bool {
		out := map[string]bool{}
		for _, h := range r.RefusedHolders() {
			out[h.Server] = true
		}
		return out
	}

	r, store, _ := start(nameTopology(t, hubB, hubD))
	r.ShadowSessionRefused("hub-b")
	r.ShadowSessionRefused("hub-d")
	store.Close()

	// A start whose topology no longer lists hub-b: its record goes,
	// hub-d's (still listed) stays.
	r, store, buf := start(nameTopology(t, hubD))
	if s := stored(); s["hub-b"] || !s["hub-d"] {
		t.Errorf("after a start without hub-b: stored refusals %v, want hub-d's only", s)
	}
	if l := listed(r); l["hub-b"] || !l["hub-d"] {
		t.Errorf("after a start without hub-b: shadow list shows %v refused, want hub-d only", l)
	}
	if !strings.Contains(buf.String(), "hub-b") || !strings.Contains(buf.String(), "no longer in the topology") {
		t.Errorf("no log line for the dropped refusal of hub-b:\n%s", buf.String())
	}

	// A reload that removes hub-d but fails later (another part of the
	// configuration refused) gives the running configuration back:
	// nothing is dropped.
	running := r.d.RunningConfig()
	if err := r.d.Reload(Config{Log: r.d.log, Topology: nameTopology(t), LocalServer: "hub-a"}); err != nil {
		t.Fatal(err)
	}
	if err := r.d.Reload(running); err != nil {
		t.Fatal(err)
	}
	if s := stored(); !s["hub-d"] {
		t.Errorf("after a failed reload without hub-d: stored refusals %v, want hub-d's kept", s)
	}
	// A reload that removes hub-d, committed, drops its record at once.
	if err := r.d.Reload(Config{Log: r.d.log, Topology: nameTopology(t), LocalServer: "hub-a"}); err != nil {
		t.Fatal(err)
	}
	r.d.ReloadCommitted()
	if s := stored(); len(s) != 0 {
		t.Errorf("after a reload without hub-d: stored refusals %v, want none", s)
	}
	if l := listed(r); len(l) != 0 {
		t.Errorf("after a reload without hub-d: shadow list shows %v refused, want none", l)
	}
	store.Close()
}
