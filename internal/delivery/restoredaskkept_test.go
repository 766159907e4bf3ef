package delivery

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"umbra/internal/queue"
	"umbra/internal/routing"
)

// SR-6 after `umbra db restore` of a holder (restored40 item 2): a
// restored database asked every transport server about its
// predecessor's handed copies, and waited up to the takeover bound, at
// every start for good. A server's whole answer is kept once applied
// (queue RestoredAnsweredBy): after a restart (a real bbolt file closed
// and opened again) only the servers that did not answer are asked, and
// once every one did, a start neither asks nor waits.
func TestSR6RestoredHolderAsksOnlyUnansweredServersAfterRestart(t *testing.T) {
	hubB := routing.Server{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: "127.0.0.123:38001"}
	dir := t.TempDir()
	path := filepath.Join(dir, "queue.db")
	store, err := queue.Open(path, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(dir, "queue.bak")
	if _, err := store.WriteBackup(backup); err != nil {
		t.Fatal(err)
	}
	store.Close()
	if _, err := queue.Restore(backup, path); err != nil {
		t.Fatal(err)
	}
	start := func() (Holders, *queue.Manager, *queue.Store) {
		store, err := queue.Open(path, queue.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if store.Predecessor() == "" {
			t.Fatal("the restored database names no predecessor")
		}
		q := queue.NewManager(store, queue.DelivererFunc(func(context.Context, *queue.Message, []byte, []int) []queue.Result { return nil }),
			queue.ManagerConfig{Hostname: "umbra.test"})
		var buf bytes.Buffer
		d := &Deliverer{log: slog.New(slog.NewTextHandler(&buf, nil))}
		d.st.Store(&state{cfg: Config{Topology: nameTopology(t, hubB), LocalServer: "hub-a", ShadowServerID: "hub-a"}})
		h := Holders{R: NewReceiptShadow(d, store.DatabaseID()).WithHolders(q), Q: q}
		q.SetRestoredAskBound(time.Hour, h.RestoredServers())
		return h, q, store
	}
	h, q, store := start()
	if got := h.Unasked(); !slices.Equal(got, []string{"hub-b", "hub-c"}) || !q.RestoredAskPending() {
		t.Fatalf("first start: unasked %v, waiting %v; want both asked, the takeovers waiting", got, q.RestoredAskPending())
	}
	h.restoredAnswer("hub-c") // its probe answered whole, every line applied
	store.Close()             // killed before hub-b answered

	h, q, store = start()
	if got := h.Unasked(); !slices.Equal(got, []string{"hub-b"}) || !q.RestoredAskPending() {
		t.Fatalf("after a restart: unasked %v, waiting %v; want hub-b only, the takeovers waiting for it", got, q.RestoredAskPending())
	}
	h.restoredAnswer("hub-b")
	if q.RestoredAskPending() {
		t.Fatal("every server answered, the takeovers still wait")
	}
	store.Close()

	h, q, store = start()
	defer store.Close()
	if got := h.Unasked(); len(got) != 0 || q.RestoredAskPending() {
		t.Fatalf("every server answered before this start: unasked %v, waiting %v; want neither asked nor waiting", got, q.RestoredAskPending())
	}
}
