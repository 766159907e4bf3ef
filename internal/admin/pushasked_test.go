package admin

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"umbra/internal/orgid"
	"umbra/internal/queue"
)

// SR-17 (receipt48 item 4): while the question a restart left of a copy
// on receipt a stop cut short is open (receiptpushasked: hub-b not yet
// asked, or not answered, whether it stored the copy), message show
// does not show the copy on hub-b as confirmed: no "copy: on hub-b", an
// unconfirmed push to hub-b instead. Real queue, a real restart of it.
func TestMessageShowPushAskedIsUnconfirmed(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	q := queue.NewManager(st, nil, queue.ManagerConfig{})
	now := time.Now()
	m := &queue.Message{ID: st.NewID(now), State: queue.Ready, From: "a@example.org", NextAttempt: now.Add(time.Hour), OrgID: orgid.New(),
		Rcpts: []queue.Recipient{{Addr: "b@example.net", Status: queue.Pending}}}
	m.ShadowServer, m.ShadowID, m.PushOnReceipt = "hub-b", m.OrgID, true
	if err := q.Submit(context.Background(), m, []byte("x\r\n")); err != nil {
		t.Fatal(err)
	}
	st.Close() // the crash: the push's outcome never recorded
	st = openStore(t, dir)
	q = queue.NewManager(st, nil, queue.ManagerConfig{})
	if _, _, err := q.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	if server, ok := q.PushAskedOf(m.ID); !ok || server != "hub-b" {
		t.Fatalf("no open question of hub-b after the restart: %q, %v", server, ok)
	}
	s, err := Listen(filepath.Join(dir, "admin.sock"), q, nil, Status{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/messages/"+m.ID.String(), nil))
	var v MessageView
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &v) != nil {
		t.Fatalf("GET message: %d %s", rec.Code, rec.Body)
	}
	if v.ShadowCopy != "" {
		t.Errorf("message show: copy on %q as if confirmed, while hub-b has not said whether it stored it", v.ShadowCopy)
	}
	if !slices.ContainsFunc(v.Unconfirmed, func(p queue.UnconfirmedPush) bool { return p.Server == "hub-b" }) {
		t.Errorf("message show: unconfirmed %+v; want the push to hub-b unconfirmed", v.Unconfirmed)
	}
}
