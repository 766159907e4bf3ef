package admin

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"umbra/internal/queue"
)

// A bulk action acts on the messages its filter selected when the
// command began, batch after batch: the first batch selects them once
// and the next take their turn from that selection. A message that
// matches the filter only later (suspended while a `message resume
// --state suspended` runs) is not one of them: each batch selected
// again, and resumed it. Seen to fail first: the late one was resumed.
func TestBulkSelectionFixedWhenTheCommandBegan(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	q := queue.NewManager(st, nil, queue.ManagerConfig{})
	now := time.Now()
	var ids []queue.ID
	late := queue.ID(0)
	for i := range 7 {
		state := queue.Suspended
		if i == 3 {
			state = queue.Ready // suspended once the command runs
		}
		m := &queue.Message{ID: st.NewID(now), State: state, From: "a@example.org", NextAttempt: now.Add(time.Hour),
			Rcpts: []queue.Recipient{{Addr: "b@example.net", Status: queue.Pending}}}
		if err := st.Update(context.Background(), func(tx *queue.Tx) error { return tx.PutNewBody(m, queue.MemBody([]byte("x\r\n"))) }); err != nil {
			t.Fatal(err)
		}
		if i == 3 {
			late = m.ID
		}
		ids = append(ids, m.ID)
	}
	s, err := Listen(filepath.Join(dir, "admin.sock"), q, nil, Status{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	batch := func(v url.Values) BulkResult {
		t.Helper()
		req := httptest.NewRequest(http.MethodPost, "/v1/messages/resume?"+v.Encode(), nil)
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		var out BulkResult
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &out) != nil {
			t.Fatalf("batch %v: %d %s", v, rec.Code, rec.Body)
		}
		return out
	}
	v := url.Values{"state": {"suspended"}, "max_time": {"1ns"}} // one message a batch
	resumed := 0
	for k := 0; ; k++ {
		if k > len(ids) {
			t.Fatal("the batches do not end")
		}
		out := batch(v)
		resumed += len(out.Done)
		if k == 0 {
			if err := q.SuspendMessage(context.Background(), late); err != nil {
				t.Fatal(err)
			}
		}
		if out.Next == "" {
			break
		}
		v.Set("after", out.Next)
		v.Set("through", out.Through)
		v.Set("selection", out.Selection)
	}
	if resumed != 6 {
		t.Errorf("%d resumed, want the 6 selected when the command began", resumed)
	}
	if m, err := q.Message(late); err != nil || m.State != queue.Suspended {
		t.Errorf("the message suspended after the command began: %v %v, want still suspended", m, err)
	}
}
