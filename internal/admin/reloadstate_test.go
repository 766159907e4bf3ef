package admin

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// OPS-1, OPS-3: GET /v1/status carries the state of the last reload as
// it is when asked (SetReload), not as it was at the start: the status
// is otherwise fixed at Listen.
func TestOPS1StatusCarriesReloadStateWhenAsked(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "admin.sock")
	os.MkdirAll(dir, 0o750)
	s, err := Listen(path, &fakeQueue{}, nil, Status{Server: "mx.test"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	state := ReloadState{Result: "none"}
	s.SetReload(func() ReloadState { mu.Lock(); defer mu.Unlock(); return state })
	go s.Serve()
	defer s.Shutdown(context.Background())
	c := NewClient(path)
	st, err := c.Status()
	if err != nil || st.Reload == nil || st.Reload.Result != "none" || st.Reload.RestartWouldFail {
		t.Fatalf("status before a reload: %+v %v", st.Reload, err)
	}
	at := time.Date(2026, 12, 5, 4, 0, 0, 0, time.UTC)
	mu.Lock()
	state = ReloadState{Count: 1, Time: &at, Result: "ok", Pending: []string{"changed: tracking.max_files"}, RestartWouldFail: true}
	mu.Unlock()
	st, err = c.Status()
	if err != nil || st.Reload == nil || st.Reload.Count != 1 || st.Reload.Time == nil || !st.Reload.Time.Equal(at) || st.Reload.Result != "ok" ||
		!st.Reload.RestartWouldFail || len(st.Reload.Pending) != 1 || st.Server != "mx.test" {
		t.Fatalf("status after a reload: %+v %+v %v", st, st.Reload, err)
	}
}
