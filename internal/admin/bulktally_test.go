package admin

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/queue"
	"umbra/internal/tracking"
)

// rt21c M3: the audit of what a bulk command's commits did does not
// depend on the command ending. A daemon killed after a batch committed
// (no line written, nothing more asked for) leaves the command's tally
// in the transport database, written with those commits; the next start
// writes the command's line from it — who asked, the action, what was
// done — and forgets it. A command that ends leaves no tally.
func TestBulkCommandCutByAStopIsAuditedAtTheNextStart(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	q := queue.NewManager(st, nil, queue.ManagerConfig{})
	now := time.Now()
	const n = 600
	for range n {
		m := &queue.Message{ID: st.NewID(now), State: queue.Suspended, From: "a@example.org", NextAttempt: now.Add(time.Hour),
			Rcpts: []queue.Recipient{{Addr: "b@example.net", Status: queue.Pending}}}
		if err := st.Update(context.Background(), func(tx *queue.Tx) error { return tx.PutNewBody(m, queue.MemBody([]byte("x\r\n"))) }); err != nil {
			t.Fatal(err)
		}
	}
	tl, err := tracking.Open(filepath.Join(dir, "tracking.log"), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	s, err := Listen(filepath.Join(dir, "admin.sock"), q, tl, Status{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/v1/messages/resume?all=true&max_time=1ns", nil)
	req.Header.Set("X-Umbra-Operator", "alice")
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	var out BulkResult
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &out) != nil || out.Next == "" || len(out.Done) == 0 {
		t.Fatalf("first batch: %d %s", rec.Code, rec.Body)
	}
	// The daemon is killed here: no Shutdown, no line. Its next start:
	s2, err := Listen(filepath.Join(dir, "admin2.sock"), q, tl, Status{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	es, err := tl.Search(tracking.Query{Events: []string{"admin"}})
	if err != nil || len(es) != 1 {
		t.Fatalf("audit after the stop: %+v %v; want one line", es, err)
	}
	e := es[0]
	want := "cut short by a stop of the daemon"
	if e.Action != "message resume" || e.Actor != "alice" || !strings.HasPrefix(e.Reply, want) ||
		!strings.Contains(e.Reply, " had "+itoa(len(out.Done))+" messages done in its commits of 600 selected") {
		t.Fatalf("audit line %+v; want message resume by alice, %q… with %d done of 600", e, want, len(out.Done))
	}
	if ts, err := q.BulkTallies(); err != nil || len(ts) != 0 {
		t.Fatalf("tallies after their line: %+v %v", ts, err)
	}
	// A command to its end: one line, no tally left, none written again
	// at a start.
	req = httptest.NewRequest(http.MethodPost, "/v1/messages/resume?all=true", nil)
	rec = httptest.NewRecorder()
	s2.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("resume --all: %d %s", rec.Code, rec.Body)
	}
	if ts, err := q.BulkTallies(); err != nil || len(ts) != 0 {
		t.Fatalf("tallies after a command that ended: %+v %v", ts, err)
	}
	s2.Shutdown(context.Background())
	s3, err := Listen(filepath.Join(dir, "admin3.sock"), q, tl, Status{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	s3.Shutdown(context.Background())
	if es, _ := tl.Search(tracking.Query{Events: []string{"admin"}}); len(es) != 2 {
		t.Fatalf("%d audit lines, want 2 (the stopped command's, the one that ended): %+v", len(es), es)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
