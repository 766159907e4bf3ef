package admin

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// OPS-3: before the first reload the status's reload state has no time
// on the wire — not "0001-01-01T00:00:00Z", which reads as a reload in
// year 1 —, and after one it has the reload's.
func TestOPS3StatusReloadTimeOmittedBeforeFirstReload(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "admin.sock")
	os.MkdirAll(dir, 0o750)
	s, err := Listen(path, &fakeQueue{}, nil, Status{Server: "mx.test"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	state := ReloadState{Result: "none"}
	s.SetReload(func() ReloadState { return state })
	go s.Serve()
	defer s.Shutdown(context.Background())
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}}
	raw := func() string {
		t.Helper()
		resp, err := hc.Get("http://umbra/v1/status")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if body := raw(); !strings.Contains(body, `"reload":{`) || strings.Contains(body, `"time"`) {
		t.Errorf("status before a reload: %s\nwant a reload state with no time", body)
	}
	at := time.Date(2026, 12, 5, 4, 0, 0, 0, time.UTC)
	state = ReloadState{Count: 1, Time: &at, Result: "ok"}
	if body := raw(); !strings.Contains(body, `"time":"2026-12-05T04:00:00Z"`) {
		t.Errorf("status after a reload: %s\nwant its time", body)
	}
}
