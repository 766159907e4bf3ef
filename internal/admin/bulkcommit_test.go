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

// rt20d-F1, rt20d-F6 (OPS-): a bulk message action over more messages
// than one commit takes acts on each as the command for one message
// does — refusals inside a commit leave their message as it was, a
// removal --ndr writes each message's DSN — and is audited in one line
// for the command, with its counts, not one line per message; a queue
// resume likewise says how many messages it made due.
func TestBulkActionAuditedOnceWithCounts(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	q := queue.NewManager(st, nil, queue.ManagerConfig{Hostname: "mx.example.org"})
	now := time.Now()
	later := now.Add(time.Hour).Truncate(time.Second)
	const n = 600 // more than two commits' worth
	state := map[queue.ID]queue.State{}
	for i := range n {
		s := queue.Ready
		if i%2 == 1 {
			s = queue.Suspended
		}
		m := &queue.Message{ID: st.NewID(now), State: s, From: "a@example.org", NextAttempt: later,
			Rcpts: []queue.Recipient{{Addr: "b@example.net", Status: queue.Pending, Queue: "smarthost:sink"}}}
		if err := st.Update(context.Background(), func(tx *queue.Tx) error { return tx.PutNewBody(m, queue.MemBody([]byte("x\r\n"))) }); err != nil {
			t.Fatal(err)
		}
		state[m.ID] = s
	}
	tl, err := tracking.Open(filepath.Join(dir, "tracking.log"), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	sock := filepath.Join(dir, "admin.sock")
	s, err := Listen(sock, q, tl, Status{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	defer s.Shutdown(context.Background())
	c := NewClient(sock)

	// resume --all: the suspended half resumed, the ready half skipped
	// (not suspended), untouched.
	res, err := c.BulkAction("resume", queue.MessageFilter{}, true, false, false)
	if err != nil || len(res.Done) != n/2 || len(res.Failed) != 0 || res.Matched != n {
		t.Fatalf("resume --all: done %d failed %v matched %d %v", len(res.Done), res.Failed, res.Matched, err)
	}
	for id, was := range state {
		m, err := q.Message(id)
		if err != nil {
			t.Fatal(err)
		}
		if was == queue.Ready && (m.State != queue.Ready || !m.NextAttempt.Equal(later) || m.ManualRetry) {
			t.Fatalf("a ready message refused by resume was changed: %v %v", m.State, m.NextAttempt)
		}
		if was == queue.Suspended && (m.State != queue.Ready || m.NextAttempt.After(time.Now())) {
			t.Fatalf("a suspended message was not resumed: %v %v", m.State, m.NextAttempt)
		}
	}

	// queue suspend and resume: the resume's line counts its messages.
	if _, err := c.QueueAction("smarthost:sink", "suspend", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.QueueAction("smarthost:sink", "resume", ""); err != nil {
		t.Fatal(err)
	}

	// remove --all --ndr: every message gone, each with its DSN.
	res, err = c.BulkAction("remove", queue.MessageFilter{Queue: "smarthost:sink"}, false, false, true)
	if err != nil || len(res.Done) != n || len(res.Failed) != 0 {
		t.Fatalf("remove --ndr: done %d failed %v %v", len(res.Done), res.Failed, err)
	}
	left, err := q.Messages(queue.MessageFilter{})
	if err != nil {
		t.Fatal(err)
	}
	dsns := 0
	for _, m := range left {
		if _, ok := state[m.ID]; ok {
			t.Fatalf("message %s left after its removal", m.ID)
		}
		if m.Connector == "dsn" && m.Rcpts[0].Addr == "a@example.org" {
			dsns++
		}
	}
	if dsns != n {
		t.Errorf("%d DSNs after remove --ndr of %d messages", dsns, n)
	}

	es, err := tl.Search(tracking.Query{Events: []string{"admin"}})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, e := range es {
		lines = append(lines, e.Action+" "+e.Queue+": "+e.Reply)
	}
	want := []string{
		"message resume : ok: 300 of 600 selected done, 0 failed, 300 skipped",
		"queue suspend smarthost:sink: ok",
		"queue resume smarthost:sink: ok: 600 messages made due",
		"message remove --ndr smarthost:sink: ok: 600 of 600 selected done, 0 failed, 0 skipped",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit lines:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

// A command that asks for no further batch (Ctrl-C waits for the batch
// in flight, then stops) is audited too, once its selection is
// forgotten — here at the daemon's stop — with what its batches did.
func TestBulkActionCutShortIsAudited(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	q := queue.NewManager(st, nil, queue.ManagerConfig{})
	now := time.Now()
	for range 5 {
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
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	var out BulkResult
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &out) != nil || out.Next == "" || len(out.Done) == 0 {
		t.Fatalf("first batch: %d %s", rec.Code, rec.Body)
	}
	if es, _ := tl.Search(tracking.Query{Events: []string{"admin"}}); len(es) != 0 {
		t.Fatalf("audited before the command ended: %+v", es)
	}
	s.Shutdown(context.Background())
	es, err := tl.Search(tracking.Query{Events: []string{"admin"}})
	// Of the 5 selected, those done and those not reached (rt21c L1:
	// not "N of N selected" with N the messages reached).
	want := "cut short, no further batch asked for: " + fmt.Sprintf("%d of 5 selected done, 0 failed, 0 skipped, %d not reached", len(out.Done), 5-out.Matched)
	if out.Selected != 5 {
		t.Errorf("first batch says %d selected, want 5", out.Selected)
	}
	if err != nil || len(es) != 1 || es[0].Action != "message resume" || !strings.HasPrefix(es[0].Reply, want) {
		t.Fatalf("audit of the command cut short: %+v %v; want one line %q…", es, err, want)
	}
}
