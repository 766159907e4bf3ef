package admin

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"umbra/internal/dumpster"
	"umbra/internal/queue"
	"umbra/internal/tracking"
)

// failingDumpster holds a copy of every id asked, and fails the commit
// that would remove it (a full disk).
type failingDumpster struct{ refusingDumpster }

func (failingDumpster) Remove(context.Context, dumpster.Selection, bool) ([]dumpster.Entry, error) {
	return nil, errors.New("write queue.db: no space left on device")
}

// OPS-5 (rr25 ops25 F2): a removal whose commit failed is audited as if the ids
// named no copy ("refused: no dumpster copy of ID"): every id not among
// the removed ones is taken for one with no copy, also when the copies
// are there and only the commit failed.
func TestDumpsterRemoveFailureIsNotNoCopy(t *testing.T) {
	dir := t.TempDir()
	tl, err := tracking.Open(filepath.Join(dir, "tracking.log"), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	sock := filepath.Join(dir, "admin.sock")
	s, err := Listen(sock, &operatorQueue{}, tl, Status{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	s.SetDumpster(failingDumpster{})
	go s.Serve()
	defer s.Shutdown(context.Background())
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	resp, err := hc.Post("http://umbra/v1/dumpster/remove?id=0123456789abcdef", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var es []tracking.Entry
	for range 100 {
		if es, _ = tl.Search(tracking.Query{Events: []string{"admin"}}); len(es) >= 2 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, e := range es {
		t.Logf("audited: %q on %q: %q (answer %s)", e.Action, e.Queue, e.Reply, resp.Status)
		if strings.Contains(e.Reply, "no dumpster copy of") {
			t.Errorf("the copy is there, its removal's commit failed; the audit says %q", e.Reply)
		}
	}
	if !slices.ContainsFunc(es, func(e tracking.Entry) bool { return strings.HasPrefix(e.Reply, "failed: ") }) {
		t.Errorf("no audit line says the removal failed: %+v", es)
	}
	_ = queue.ID(0)
}
