package delivery

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"testing"

	"umbra/internal/queue"
	"umbra/internal/routing"
)

// SR-17, SR-13 (shadow29 item 2): that hub-b's shadow sessions are
// refused here survives a restart of this server: kept in the transport
// database (a real bbolt file, closed and opened again), the first copy
// on receipt after the start does not go to hub-b, whose sessions would
// be refused (a copy there could never be discarded), until one of its
// sessions is let in, which ends the record there too.
func TestSR17SessionsRefusedHereSurviveRestart(t *testing.T) {
	hubB := routing.Server{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: "127.0.0.170:14001"}
	path := filepath.Join(t.TempDir(), "queue.db")
	start := func() (*ReceiptShadow, *queue.Store) {
		store, err := queue.Open(path, queue.Options{})
		if err != nil {
			t.Fatal(err)
		}
		q := queue.NewManager(store, queue.DelivererFunc(func(context.Context, *queue.Message, []byte, []int) []queue.Result { return nil }),
			queue.ManagerConfig{Hostname: "umbra.test"})
		var buf bytes.Buffer
		d := &Deliverer{log: slog.New(slog.NewTextHandler(&buf, nil))}
		d.st.Store(&state{cfg: Config{Topology: nameTopology(t, hubB), LocalServer: "hub-a"}})
		return NewReceiptShadow(d, store.DatabaseID()).WithHolders(q), store
	}
	r, store := start()
	r.ShadowSessionRefused("hub-b")
	store.Close()

	r, store = start()
	if why := r.sessionsRefusedHere("hub-b", "hub-b"); why == "" {
		t.Fatal("after a restart, hub-b's sessions refused here before it: copy made on it")
	}
	r.ShadowSessionLetIn("hub-b")
	store.Close()

	r, store = start()
	defer store.Close()
	if why := r.sessionsRefusedHere("hub-b", "hub-b"); why != "" {
		t.Fatalf("after a restart, hub-b's session let in before it: %q, want a copy", why)
	}
}
