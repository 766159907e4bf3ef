package delivery

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"

	"umbra/internal/queue"
	"umbra/internal/routing"
)

// owedTo is the real queue with the discards it owes named by the test.
type owedTo struct {
	*queue.Manager
	names []string
}

func (o owedTo) OwedDiscardServers() ([]string, error) { return o.names, nil }

// SR-15, SR-17, SR-13 (shadow31 S1): the holder this server dials as
// hub-b (its topology name) states hub-b2 as its own (another transport
// server of the topology: an alias of the host) and its sessions, under
// hub-b2, are refused here. Its discard queries are refused, so this
// server owes it discards it must hand over itself (Holders.Stale lists
// it, Holders.Probe pushes). The link hub-b → hub-b2 was kept in memory
// only: after a restart of this server (a real bbolt file closed and
// opened again) hub-b was not listed until a copy or a probe relearnt
// the link — its discards not pushed, and its copies taken over at
// their expiry, a second delivery. The link is the stated name the
// transport database keeps with the holder's id (bucket holderstated):
// read again at the start.
func TestSR15RefusedHolderStatingAnotherNameListedAfterRestart(t *testing.T) {
	hubB := routing.Server{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: "127.0.0.121:7001"}
	hubB2 := routing.Server{Name: "hub-b2", Role: routing.RoleHub, Site: "b", Address: "127.0.0.122:7001"}
	path := filepath.Join(t.TempDir(), "queue.db")
	start := func() (*ReceiptShadow, *queue.Manager, *queue.Store) {
		store, err := queue.Open(path, queue.Options{})
		if err != nil {
			t.Fatal(err)
		}
		q := queue.NewManager(store, queue.DelivererFunc(func(context.Context, *queue.Message, []byte, []int) []queue.Result { return nil }),
			queue.ManagerConfig{Hostname: "umbra.test"})
		var buf bytes.Buffer
		d := &Deliverer{log: slog.New(slog.NewTextHandler(&buf, nil))}
		d.st.Store(&state{cfg: Config{Topology: nameTopology(t, hubB, hubB2), LocalServer: "hub-a"}})
		return NewReceiptShadow(d, store.DatabaseID()).WithHolders(q), q, store
	}
	r, q, store := start()
	r.ShadowSessionRefused("hub-b2") // its heartbeat here, stating hub-b2
	// A copy session (or probe) dialled to hub-b meets NAME=hub-b2.
	r.holderSeen("hub-b", "hub-b2", "db-of-hub-b")
	if why := r.refusedSinceLetIn("hub-b", "hub-b2"); why == "" && !r.sessionsRefused("hub-b") {
		t.Fatal("before the restart: hub-b, stating hub-b2, not taken as refused")
	}
	if got := (Holders{R: r, Q: owedTo{q, []string{"hub-b"}}}).Stale(); !slices.Contains(got, "hub-b") {
		t.Fatalf("before the restart: Stale() = %q, want hub-b (owed discards, sessions refused)", got)
	}
	store.Close()

	r, q, store = start()
	defer store.Close()
	if got := (Holders{R: r, Q: owedTo{q, []string{"hub-b"}}}).Stale(); !slices.Contains(got, "hub-b") {
		t.Fatalf("after a restart: Stale() = %q, want hub-b: its sessions (as hub-b2) are refused here and discards are owed to it", got)
	}
	if !r.refusedLate(r.clock(), "hub-b") {
		t.Fatal("after a restart: hub-b, whose sessions as hub-b2 are refused here, is tried in its normal place for copies on receipt")
	}
}
