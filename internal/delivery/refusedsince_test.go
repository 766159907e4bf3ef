package delivery

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"umbra/internal/queue"
	"umbra/internal/routing"
)

// The transport database keeps when a holder's sessions were first
// refused (queue NoteSessionsRefusedHere stores the time); a restart
// reads the names only and says "refused here since <the start>" in the
// 451's log line, queue destinations and shadow list — the operator is
// told the refusal began at the restart.
func TestSR17RefusedSinceSurvivesRestart(t *testing.T) {
	hubB := routing.Server{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: "127.0.0.171:14002"}
	path := filepath.Join(t.TempDir(), "queue.db")
	start := func() (*ReceiptShadow, *queue.Store) {
		store, err := queue.Open(path, queue.Options{})
		if err != nil {
			t.Fatal(err)
		}
		q := queue.NewManager(store, queue.DelivererFunc(func(context.Context, *queue.Message, []byte, []int) []queue.Result { return nil }),
			queue.ManagerConfig{Hostname: "umbra.test"})
		d := &Deliverer{log: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))}
		d.st.Store(&state{cfg: Config{Topology: nameTopology(t, hubB), LocalServer: "hub-a"}})
		return NewReceiptShadow(d, store.DatabaseID()).WithHolders(q), store
	}
	r, store := start()
	r.ShadowSessionRefused("hub-b")
	refusedAt := time.Now()
	store.Close()
	time.Sleep(1100 * time.Millisecond)
	restartAt := time.Now()
	r, store = start()
	defer store.Close()
	hs := r.RefusedHolders()
	if len(hs) != 1 {
		t.Fatalf("refused holders after the restart: %+v", hs)
	}
	if hs[0].Since.After(refusedAt) {
		t.Fatalf("refused since %s after a restart at %s; the refusal was at %s (stored): %s", hs[0].Since.Format(time.RFC3339Nano), restartAt.Format(time.RFC3339Nano), refusedAt.Format(time.RFC3339Nano), hs[0].Why)
	}
}
