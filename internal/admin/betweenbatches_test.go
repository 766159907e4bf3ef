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

// rt24c F10 (OPS-5): what the audit says of a bulk command cut short
// is what the daemon knows. A command whose client says it asks for no
// further batch (the CLI's Ctrl-C: POST /v1/selections/TOKEN/stop) has
// its line at once, `cut short, no further batch asked for: …`, and no
// record left for a start to tell as the stop's. One whose client said
// nothing, stopped between its batches by a kill of the daemon, is told
// as such: its record was marked between batches at its last batch's
// end, and the start's line says that no batch was cut and none was
// asked for since — not "before its end" as for a stop that cut one.
func TestBulkCommandStoppedBetweenBatchesIsToldSo(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	q := queue.NewManager(st, nil, queue.ManagerConfig{})
	now := time.Now()
	for range 50 {
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
	listen := func(name string) *Server {
		s, err := Listen(filepath.Join(dir, name), q, tl, Status{}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	post := func(s *Server, path string) (int, []byte) {
		req := httptest.NewRequest(http.MethodPost, path, nil)
		req.Header.Set("X-Umbra-Operator", "alice")
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		return rec.Code, rec.Body.Bytes()
	}
	batch := func(s *Server, path string) BulkResult {
		t.Helper()
		code, body := post(s, path)
		var out BulkResult
		if code != http.StatusOK || json.Unmarshal(body, &out) != nil || out.Next == "" {
			t.Fatalf("POST %s: %d %s", path, code, body)
		}
		return out
	}
	lines := func() []tracking.Entry {
		es, _ := tl.Search(tracking.Query{Events: []string{"admin"}})
		return es
	}

	// Killed between its batches: two batches answered, then the kill.
	s := listen("a.sock")
	out := batch(s, "/v1/messages/resume?all=true&max_time=1ns")
	out = batch(s, "/v1/messages/resume?all=true&max_time=1ns&after="+out.Next+"&through="+out.Through+"&selection="+out.Selection)
	ts, err := q.BulkTallies()
	if err != nil || len(ts) != 1 || ts[0].Waiting.IsZero() || ts[0].Done != 2 {
		t.Fatalf("the record between its batches: %+v %v; want one, marked waiting, 2 done", ts, err)
	}
	listen("b.sock") // the next start
	es := lines()
	if len(es) != 1 || !strings.HasPrefix(es[0].Reply, "cut short by a stop of the daemon (killed or crashed) between its batches, no further batch asked for since its last ended at ") ||
		!strings.Contains(es[0].Reply, "of 50 selected, 2 done in its commits") || es[0].Actor != "alice" {
		t.Fatalf("the start's line: %+v", es)
	}

	// Stopped by its client (Ctrl-C): the line at once, nothing for a start.
	s = listen("c.sock")
	out = batch(s, "/v1/messages/suspend?all=true&max_time=1ns")
	if code, body := post(s, "/v1/selections/"+out.Selection+"/stop"); code != http.StatusOK {
		t.Fatalf("stop: %d %s", code, body)
	}
	if ts, err := q.BulkTallies(); err != nil || len(ts) != 0 {
		t.Fatalf("records after the stop's line: %+v %v", ts, err)
	}
	// The stop itself is audited with who sent it (OPS-5, rr25 ops25),
	// then the command's line.
	es = lines()
	if len(es) != 3 || es[1].Action != "stop message suspend" || es[1].Actor != "alice" ||
		es[2].Action != "message suspend" || es[2].Actor != "alice" ||
		!strings.HasPrefix(es[2].Reply, "cut short, no further batch asked for: 1 of 50 selected done") {
		t.Fatalf("the stop's and the stopped command's lines: %+v", es)
	}
	if code, _ := post(s, "/v1/selections/"+out.Selection+"/stop"); code != http.StatusNotFound {
		t.Errorf("a second stop of the command: %d, want 404 (its line is written)", code)
	}
	// A later batch carrying the stopped token is refused (410), not
	// selected again and acted on after the line said the rest was left.
	countSuspended := func() int {
		ms, err := q.Messages(queue.MessageFilter{})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, m := range ms {
			if m.State == queue.Suspended {
				n++
			}
		}
		return n
	}
	before := countSuspended()
	if code, body := post(s, "/v1/messages/suspend?all=true&max_time=1ns&after="+out.Next+"&through="+out.Through+"&selection="+out.Selection); code != http.StatusGone {
		t.Errorf("a batch after the stop: %d %s, want 410", code, body)
	}
	if after := countSuspended(); after != before {
		t.Errorf("%d messages suspended after a batch carrying the stopped token, %d before: it acted", after, before)
	}
	n := len(lines())
	listen("d.sock") // a start after a kill: no line again
	if es := lines(); len(es) != n {
		t.Fatalf("%d lines after the next start, want %d: %+v", len(es), n, es)
	}
}
