package admin

import (
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"umbra/internal/queue"
)

// Each batch of a command run in batches asks the daemon to end within
// a quarter of the client's wait for an answer (max_time), so that its
// answer comes within the wait; a batch time set shorter
// (UMBRA_ADMIN_BATCH_TIME) makes the batches shorter, never longer than
// that quarter (OPS-5). What the batches ask is checked here, with no
// clock: a stand-in daemon on a real socket records each request's
// max_time and answers two batches.
func TestClientBatchTimeWithinTheWait(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "admin.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var asked []string
	srv := &http.Server{Handler: marked(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { // as umbra's admin server answers
		q := r.URL.Query()
		mu.Lock()
		asked = append(asked, q.Get("max_time"))
		mu.Unlock()
		out := BulkResult{Action: "suspend", Matched: 1, Done: []string{queue.ID(1).String()}}
		if q.Get("after") == "" { // the first batch: one more to come
			out.Next, out.Through, out.Selection = queue.ID(1).String(), queue.ID(2).String(), "sel"
		}
		json.NewEncoder(w).Encode(out)
	}))}
	go srv.Serve(ln)
	defer srv.Close()

	for _, tc := range []struct {
		wait, batch time.Duration
		want        string
	}{
		{wait: 0, want: (30 * time.Second / 4).String()}, // NewClient's wait
		{wait: 100 * time.Millisecond, want: "25ms"},
		{wait: 2 * time.Minute, batch: time.Nanosecond, want: "1ns"},
		{wait: 2 * time.Minute, batch: time.Second, want: "1s"},
		{wait: 2 * time.Second, batch: time.Minute, want: "500ms"}, // never past the quarter
	} {
		c := NewClient(sock)
		if tc.wait > 0 {
			c.SetTimeout(tc.wait)
		}
		if tc.batch > 0 {
			c.SetBatchTime(tc.batch)
		}
		mu.Lock()
		asked = nil
		mu.Unlock()
		res, err := c.BulkActionProgress("suspend", queue.MessageFilter{}, true, false, false, false, nil)
		if err != nil || res.Matched != 2 {
			t.Fatalf("wait %v, batch time %v: %v, %d matched", tc.wait, tc.batch, err, res.Matched)
		}
		mu.Lock()
		got := append([]string(nil), asked...)
		mu.Unlock()
		if len(got) != 2 || got[0] != tc.want || got[1] != tc.want {
			t.Errorf("wait %v, batch time %v: batches asked max_time %q, want %q each", tc.wait, tc.batch, got, tc.want)
		}
	}
}
