package admin

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"umbra/internal/queue"
)

// A batch answers within its max_time counted from the request's
// arrival: the time it waits for another command's batch (bulkMu) and
// the first batch's selection are inside it, not added to it. A batch
// that waited its whole time already does one message (progress) and
// answers; before, it then ran its full max_time on, and the client's
// wait (four times max_time) could pass under load (TestBulkActionOutlastsTheWait
// at UMBRA_ADMIN_TIMEOUT=100ms). OPS-5.
//
// The batch is known to wait for the slot (batchArrived) before the
// slot's holder lets it go: a loaded machine that started the request
// late made it arrive after the slot was free, run its full time and
// do every message.
func TestBatchTimeCountsFromArrival(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	q := queue.NewManager(st, nil, queue.ManagerConfig{})
	now := time.Now()
	const n = 30
	for range n {
		m := &queue.Message{ID: st.NewID(now), State: queue.Ready, From: "a@example.org", NextAttempt: now.Add(time.Hour),
			Rcpts: []queue.Recipient{{Addr: "b@example.net", Status: queue.Pending}}}
		if err := st.Update(context.Background(), func(tx *queue.Tx) error { return tx.PutNewBody(m, queue.MemBody([]byte("x\r\n"))) }); err != nil {
			t.Fatal(err)
		}
	}
	s, err := Listen(filepath.Join(dir, "admin.sock"), q, nil, Status{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	// Another command's batch holds the daemon's one batch slot for
	// longer than this batch's max_time.
	s.bulkMu.Lock()
	arrived := make(chan struct{})
	s.batchArrived = func() { close(arrived) }
	done := make(chan BulkResult)
	go func() {
		req := httptest.NewRequest(http.MethodPost, "/v1/messages/suspend?all=true&max_time=100ms", nil)
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		var out BulkResult
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &out) != nil {
			t.Errorf("suspend batch: %d %s", rec.Code, rec.Body)
		}
		done <- out
	}()
	// Its time runs from its arrival: once it waits for the slot, the
	// slot is held past its max_time (the sleep is the time passing,
	// not a synchronisation: a slower machine only makes it longer).
	<-arrived
	time.Sleep(300 * time.Millisecond)
	s.bulkMu.Unlock()
	out := <-done
	if len(out.Done) != 1 || out.Next == "" {
		t.Fatalf("a batch that waited past its max_time for the batch slot: %d done, next %q; want 1 (progress) and the rest left for the next batch", len(out.Done), out.Next)
	}
}
