package admin

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// OPS-3: the API's refusal of a since_ago that is no duration quotes it
// as Go's %q writes it (the byte 0xe9 \xe9), escaped once: the answers'
// rule over the %q again doubled its backslash (\\xe9, the text of the
// escape), as admin.ShownText did (TestOPS3ShownTextKeepsGoQuotedOnce).
func TestOPS3SinceAgoRefusalQuotedOnce(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "admin.sock")
	s, err := Listen(sock, &operatorQueue{}, nil, Status{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	s.SetDumpster(refusingDumpster{})
	go s.Serve()
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	resp, err := hc.Post("http://umbra/v1/dumpster/DB1/redeliver?request_id=r1&since_ago=bad%E9", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Error string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("%s, %v", resp.Status, err)
	}
	if !strings.Contains(out.Error, `"bad\xe9"`) || strings.Contains(out.Error, `\\xe9`) {
		t.Errorf("the refusal does not quote since_ago once as %%q writes it (\"bad\\xe9\"): %s", out.Error)
	}
}
