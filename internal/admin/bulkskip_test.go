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

// rt17e-F5: a bulk action leaves a message it has nothing to do on
// untouched and reports it as a skip by reason, never as a failure:
// resume --all of messages waiting for a retry, retry --all of suspended
// ones, suspend --all of poison ones — and a message another command
// changed after this one selected it (two resume --all at once: the
// second finds the first's messages resumed). Only a failure is a
// failure (exit 1).
func TestBulkNothingToDoIsASkip(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	q := queue.NewManager(st, nil, queue.ManagerConfig{})
	now := time.Now()
	put := func(state queue.State) queue.ID {
		m := &queue.Message{ID: st.NewID(now), State: state, From: "a@example.org", NextAttempt: now.Add(time.Hour),
			Rcpts: []queue.Recipient{{Addr: "b@example.net", Status: queue.Pending}}}
		if err := st.Update(context.Background(), func(tx *queue.Tx) error { return tx.PutNewBody(m, queue.MemBody([]byte("x\r\n"))) }); err != nil {
			t.Fatal(err)
		}
		return m.ID
	}
	var suspended []queue.ID
	for range 4 {
		put(queue.Ready)
	}
	for range 3 {
		suspended = append(suspended, put(queue.Suspended))
	}
	s, err := Listen(filepath.Join(dir, "admin.sock"), q, nil, Status{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	batch := func(action string, v url.Values) BulkResult {
		t.Helper()
		req := httptest.NewRequest(http.MethodPost, "/v1/messages/"+action+"?"+v.Encode(), nil)
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		var out BulkResult
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &out) != nil {
			t.Fatalf("%s %v: %d %s", action, v, rec.Code, rec.Body)
		}
		return out
	}
	skipped := func(out BulkResult) int {
		n := 0
		for _, c := range out.Skipped {
			n += c
		}
		return n
	}
	all := url.Values{"all": {"true"}}
	dry := url.Values{"all": {"true"}, "dry_run": {"true"}}
	for _, v := range []url.Values{dry, all} {
		if out := batch("retry", v); len(out.Failed) != 0 || skipped(out) != 3 || len(out.Done) != 4 {
			t.Errorf("retry %v: %+v, want 4 done, the 3 suspended skipped, none failed", v, out)
		}
	}
	// Another resume --all selected the same messages and resumed the
	// suspended ones after this one's first batch (one message a batch).
	v := url.Values{"all": {"true"}, "max_time": {"1ns"}}
	var sum BulkResult
	for k := 0; ; k++ {
		if k > 10 {
			t.Fatal("the batches do not end")
		}
		out := batch("resume", v)
		if k == 0 {
			for _, id := range suspended {
				q.ResumeMessage(context.Background(), id) // the other command's
			}
		}
		sum.Done, sum.Failed = append(sum.Done, out.Done...), append(sum.Failed, out.Failed...)
		sum.Matched += out.Matched
		for why, c := range out.Skipped {
			sum.skip(why)
			sum.Skipped[why] += c - 1
		}
		if out.Next == "" {
			break
		}
		v.Set("after", out.Next)
		v.Set("selection", out.Selection)
	}
	if len(sum.Failed) != 0 || skipped(sum) != 7 || len(sum.Done) != 0 {
		t.Errorf("resume --all of messages in retry, the suspended ones resumed meanwhile by another command: %+v, want all 7 skipped by reason, none failed", sum)
	}
	for _, id := range suspended {
		if err := q.SuspendMessage(context.Background(), id); err != nil {
			t.Fatal(err)
		}
	}
	for _, v := range []url.Values{dry, all} {
		if out := batch("resume", v); len(out.Failed) != 0 || skipped(out) != 4 || len(out.Done) != 3 {
			t.Errorf("resume %v: %+v, want 3 done, the 4 in retry skipped, none failed", v, out)
		}
	}
}
