package admin

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/dumpster"
	"umbra/internal/queue"
	"umbra/internal/tracking"
)

// refusingDumpster is a dumpster holding copies for DB1 only; nothing
// it is asked reaches it in these tests but its summaries.
type refusingDumpster struct{}

func (refusingDumpster) Summaries() ([]dumpster.Summary, error) {
	return []dumpster.Summary{{Database: "DB1", Messages: 1}}, nil
}
func (refusingDumpster) List(string, time.Time, int) ([]dumpster.Entry, error) { return nil, nil }
func (refusingDumpster) Redeliver(context.Context, string, string, time.Time) (*queue.Request, dumpster.Outcome, error) {
	return nil, 0, nil
}
func (refusingDumpster) RedeliverAgo(context.Context, string, string, time.Duration) (*queue.Request, dumpster.Outcome, error) {
	return nil, 0, nil
}
func (refusingDumpster) Remove(context.Context, dumpster.Selection, bool) ([]dumpster.Entry, error) {
	return nil, nil
}

// OPS-5 (operator actions audited): a request refused before its
// action is tried is audited on every route an operator acts through,
// as the queue, message, flush and forget routes are (rt24c F15): the
// bulk message route (POST /v1/messages/ACTION: `message suspend --all`
// …), the dumpster's redeliver and remove, and the TLS report's send.
// One line each, "refused: " and the refusal's words, its actor; a
// refusal the handler audits itself is not audited twice; a dry run is
// no action and is not audited.
func TestRefusedActionsAuditedOnEveryRoute(t *testing.T) {
	dir := t.TempDir()
	tl, err := tracking.Open(filepath.Join(dir, "tracking.log"), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	listen := func(name string, dump Dumpster) *http.Client {
		sock := filepath.Join(dir, name)
		s, err := Listen(sock, &operatorQueue{}, tl, Status{}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		if dump != nil {
			s.SetDumpster(dump)
		}
		go s.Serve()
		t.Cleanup(func() { s.Shutdown(context.Background()) })
		return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}}
	}
	hc := listen("admin.sock", refusingDumpster{})
	bare := listen("bare.sock", nil) // no dumpster, no TLS reports
	post := func(hc *http.Client, path string, want int) {
		t.Helper()
		resp, err := hc.Post("http://umbra"+path, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("POST %s: %s, want %d", path, resp.Status, want)
		}
	}
	type line struct{ action, queue, words string }
	var want []line
	refused := func(hc *http.Client, path string, status int, l line) {
		t.Helper()
		post(hc, path, status)
		want = append(want, l)
	}
	// The bulk message route.
	refused(hc, "/v1/messages/frobnicate?all=true", http.StatusNotFound, line{"message frobnicate", "", "unknown message action"})
	refused(hc, "/v1/messages/suspend", http.StatusBadRequest, line{"message suspend", "", "select messages with a filter"})
	refused(hc, "/v1/messages/remove?ndr=true&older_than=soon", http.StatusBadRequest, line{"message remove --ndr", "", "older_than"})
	refused(hc, "/v1/messages/resume?queue=nosuch", http.StatusNotFound, line{"message resume", "nosuch", "nosuch"})
	post(hc, "/v1/messages/suspend?dry_run=true", http.StatusBadRequest) // no action: not audited
	// The dumpster's routes.
	refused(hc, "/v1/dumpster/DB1/redeliver?request_id=r1", http.StatusBadRequest, line{"dumpster resubmit", "dumpster:DB1", "give one of since"})
	refused(hc, "/v1/dumpster/DB1/redeliver?since_ago=1h", http.StatusBadRequest, line{"dumpster resubmit", "dumpster:DB1", "request_id is required"})
	refused(hc, "/v1/dumpster/remove?database=DB1", http.StatusBadRequest, line{"dumpster remove", "dumpster:DB1", "confirm=true is required"})
	refused(hc, "/v1/dumpster/remove?id=zz", http.StatusBadRequest, line{"dumpster remove", "", "zz"})
	refused(hc, "/v1/dumpster/remove?database=NOPE&confirm=true", http.StatusNotFound, line{"dumpster remove", "dumpster:NOPE", "NOPE"})
	post(hc, "/v1/dumpster/remove?database=NOPE&dry_run=true", http.StatusNotFound) // no action: not audited
	// An id with no copy: answered 200 with it not found (the CLI's exit
	// 3), audited as a message action on an id that names nothing is.
	refused(hc, "/v1/dumpster/remove?id=0123456789abcdef", http.StatusOK, line{"dumpster remove", "", "no dumpster copy of 0123456789ABCDEF"})
	post(hc, "/v1/dumpster/remove?id=0123456789abcdef&dry_run=true", http.StatusOK) // no action: not audited
	refused(bare, "/v1/dumpster/DB1/redeliver?since_ago=1h&request_id=r2", http.StatusNotFound, line{"dumpster resubmit", "dumpster:DB1", "no dumpster"})
	refused(bare, "/v1/dumpster/remove?id=0123456789abcdef", http.StatusNotFound, line{"dumpster remove", "", "no dumpster"})
	// The TLS reports' send.
	refused(bare, "/v1/tlsreport/send?date=2026-12-01", http.StatusNotFound, line{"tls report send 2026-12-01", "", "tls_rpt is off"})

	var es []tracking.Entry
	for i := 0; i < 200; i++ { // a handler audits after its answer's start; bounded
		es, _ = tl.Search(tracking.Query{Events: []string{"admin"}})
		if len(es) >= len(want) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(es) != len(want) {
		for _, e := range es {
			t.Logf("audited: %q on %q: %q", e.Action, e.Queue, e.Reply)
		}
		t.Fatalf("%d admin lines, want %d: one per refused request, none for a dry run", len(es), len(want))
	}
	for i, w := range want {
		e := es[i]
		if e.Action != w.action || e.Queue != w.queue || !strings.HasPrefix(e.Reply, "refused: ") || !strings.Contains(e.Reply, w.words) || e.Actor == "" || e.Actor == "unknown" {
			t.Errorf("line %d: %q on %q: %q by %q, want %q on %q: refused: …%s…", i, e.Action, e.Queue, e.Reply, e.Actor, w.action, w.queue, w.words)
		}
	}
}
