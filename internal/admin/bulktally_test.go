package admin

import (
	"context"
	"encoding/json"
	"fmt"
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
		!strings.Contains(e.Reply, " had, of 600 selected, "+itoa(len(out.Done))+" done in its commits") {
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

// OPS-5 (ops24 3): the record a bulk command killed mid-run leaves
// tells the operator all of it, not the changed messages alone: how
// many it selected, how many its commits changed, how many it reached
// and left as they were (already in that state: a resume of a message
// not suspended), and how many it did not reach. A third of the queue
// is not suspended; the command's first batch is all a "killed" daemon
// ran; the next start's line adds up to the selection.
func TestBulkCommandCutByAStopCountsUnchangedAndNotReached(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	q := queue.NewManager(st, nil, queue.ManagerConfig{})
	now := time.Now()
	const n = 600
	for i := range n {
		state := queue.Suspended
		if i%3 == 1 {
			state = queue.Ready // resume has nothing to do on it
		}
		m := &queue.Message{ID: st.NewID(now), State: state, From: "a@example.org", NextAttempt: now.Add(time.Hour),
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
	var done, matched int
	after, sel := "", ""
	for range 3 {
		req := httptest.NewRequest(http.MethodPost, "/v1/messages/resume?all=true&max_time=1ns&after="+after+"&selection="+sel, nil)
		req.Header.Set("X-Umbra-Operator", "alice")
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		var out BulkResult
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &out) != nil || out.Next == "" || out.Matched != 1 {
			t.Fatalf("batch: %d %s", rec.Code, rec.Body)
		}
		done, matched = done+len(out.Done), matched+out.Matched
		after, sel = out.Next, out.Selection
	}
	unchanged := matched - done
	if done != 2 || unchanged != 1 {
		t.Fatalf("%d done, %d left as they were; want 2 and 1", done, unchanged)
	}
	// Killed here; the next start:
	if _, err := Listen(filepath.Join(dir, "admin2.sock"), q, tl, Status{}, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	es, err := tl.Search(tracking.Query{Events: []string{"admin"}})
	if err != nil || len(es) != 1 {
		t.Fatalf("audit after the stop: %+v %v; want one line", es, err)
	}
	want := fmt.Sprintf("of %d selected, %d done in its commits, %d left as they were (already in that state, or not for this action), %d not reached",
		n, done, unchanged, n-matched)
	if e := es[0]; e.Action != "message resume" || e.Actor != "alice" || !strings.Contains(e.Reply, want) {
		t.Fatalf("audit line %q; want %q in it", e.Reply, want)
	}
}

// OPS-5 (ops24 3, the same for a queue action cut short by its client):
// its line said how many messages it made due and nothing of the rest;
// it says, as a bulk message action's does, how many it reached and
// left as they were and how many of those it selected it did not reach.
func TestQueueActionCutShortCountsTheRest(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	q := queue.NewManager(st, nil, queue.ManagerConfig{Hostname: "mx.example.org"})
	now := time.Now()
	const n = 600
	for range n {
		m := &queue.Message{ID: st.NewID(now), State: queue.Ready, From: "a@example.org", NextAttempt: now.Add(time.Hour),
			Rcpts: []queue.Recipient{{Addr: "b@example.net", Status: queue.Pending, Queue: "smarthost:sink"}}}
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
	req := httptest.NewRequest(http.MethodPost, "/v1/queues/smarthost:sink/retry?max_time=1ns", nil)
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	var out QueueResult
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &out) != nil || out.Next == "" || out.Rescheduled == 0 {
		t.Fatalf("first batch: %d %s", rec.Code, rec.Body)
	}
	s.Shutdown(context.Background()) // the command asked for no further batch: its line now
	es, err := tl.Search(tracking.Query{Events: []string{"admin"}})
	if err != nil || len(es) != 1 {
		t.Fatalf("audit: %+v %v; want one line", es, err)
	}
	noun := "messages" // the count's noun agrees with it (rt33c F8)
	if out.Rescheduled == 1 {
		noun = "message"
	}
	want := fmt.Sprintf("cut short, no further batch asked for: %d %s made due, 0 left as they were (already in that state, or not for this action), %d of the %d selected not reached",
		out.Rescheduled, noun, n-out.Rescheduled, n)
	if !strings.HasPrefix(es[0].Reply, want) {
		t.Fatalf("audit line %q; want %q…", es[0].Reply, want)
	}
}
