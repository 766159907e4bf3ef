package admin

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"umbra/internal/queue"
)

// rt20d-F2 (OPS-): a listing has a server-side maximum. A --limit of
// 100,000,000 was accepted, and one answer built the whole queue in the
// daemon's memory (211 MiB of heap for 100,000 messages; eight at once
// took 2.7 GB): a limit above the most one listing returns is refused,
// naming that maximum, and one within it is answered.
func TestMessageListLimitHasAMaximum(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	q := queue.NewManager(st, nil, queue.ManagerConfig{})
	s, err := Listen(filepath.Join(dir, "admin.sock"), q, nil, Status{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	path := "/v1/messages"
	get := func(limit string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path+"?limit="+limit, nil))
		return rec
	}
	// The same for the other listings the daemon builds: the
	// quarantine's (a dumpster's, below, needs its store).
	for _, path = range []string{"/v1/messages", "/v1/quarantine"} {
		for _, limit := range []string{"100000000", "10002", "-5", "x"} {
			rec := get(limit)
			if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "10000") {
				t.Errorf("%s limit=%s: %d %s; want 400 naming the maximum 10000", path, limit, rec.Code, rec.Body)
			}
		}
	}
	path = "/v1/messages"
	// The CLI asks one more than the most it prints, to tell whether
	// more match: 10,001 is answered.
	for _, limit := range []string{"1", "10000", "10001"} {
		if rec := get(limit); rec.Code != http.StatusOK {
			t.Errorf("limit=%s: %d %s", limit, rec.Code, rec.Body)
		}
	}
}
