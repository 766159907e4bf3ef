package admin

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/queue"
	"umbra/internal/tracking"
)

// OPS-5 (rr24 F4): a redirect killed mid-run leaves a record whose line,
// at the next start, says what the live line says of the messages the
// operator must act on again: those in delivery left in the queue
// (redirect again after their attempt) and the REQUIRETLS messages kept
// on their route — not "left as they were" among those already in that
// state. The first 40 messages of the queue: 10 in delivery, 10
// REQUIRETLS, then ordinary ones; the redirect goes in batches of
// max_time=1ns (a commit reaches at least one message) until it has
// passed the first 40, and the daemon is "killed" (no Shutdown).
func TestRedirectKilledCountsInDeliveryAndRequireTLS(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	q := queue.NewManager(st, nil, queue.ManagerConfig{Hostname: "mx.example.org"})
	now := time.Now()
	const n = 300
	for i := range n {
		m := &queue.Message{ID: st.NewID(now), State: queue.Ready, From: "a@example.org", NextAttempt: now.Add(time.Hour),
			Rcpts: []queue.Recipient{{Addr: "b@example.net", Status: queue.Pending, Queue: "smarthost:sink"}}}
		switch {
		case i < 10:
			m.State = queue.Active
		case i < 20:
			m.RequireTLS = true
		}
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
	v := url.Values{"to": {"127.0.0.191:11551"}, "max_time": {"1ns"}}
	var tally queue.BulkTally
	for i := 0; ; i++ {
		if i == n {
			t.Fatalf("the redirect did not pass its first 40 messages in %d batches: %+v", n, tally)
		}
		req := httptest.NewRequest(http.MethodPost, "/v1/queues/smarthost:sink/redirect?"+v.Encode(), nil)
		req.Header.Set("X-Umbra-Operator", "alice")
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		var out QueueResult
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &out) != nil || out.Next == "" {
			t.Fatalf("batch %d: %d %s", i, rec.Code, rec.Body)
		}
		v.Set("after", out.Next)
		v.Set("through", out.Through)
		v.Set("selection", out.Selection)
		ts, err := q.BulkTallies()
		if err != nil || len(ts) != 1 {
			t.Fatalf("tallies: %+v %v", ts, err)
		}
		if tally = ts[0]; tally.Done+tally.Unchanged >= 40 {
			break
		}
	}
	if tally.InDelivery != 10 || tally.KeptRequireTLS != 10 {
		t.Fatalf("the record counts %d in delivery and %d REQUIRETLS kept, want 10 and 10: %+v", tally.InDelivery, tally.KeptRequireTLS, tally)
	}
	// Killed here: no Shutdown, no line. The next start:
	if _, err := Listen(filepath.Join(dir, "admin2.sock"), q, tl, Status{}, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	es, err := tl.Search(tracking.Query{Events: []string{"admin"}})
	if err != nil || len(es) != 1 {
		t.Fatalf("audit after the stop: %+v %v; want one line", es, err)
	}
	line := es[0].Reply
	for _, want := range []string{
		"cut short by a stop of the daemon",
		", 10 REQUIRETLS messages kept on their route",
		", 10 messages in delivery left in the queue (redirect again after their attempt)",
		", " + itoa(tally.Unchanged-20) + " left as they were",
	} {
		if !strings.Contains(line, want) {
			t.Errorf("audit line %q; want %q in it", line, want)
		}
	}
}
