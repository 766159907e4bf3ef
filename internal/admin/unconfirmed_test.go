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

// rt20a F3: shadow single (GET /v1/shadows/single) and message show
// (GET /v1/messages/{id}) name every server a copy on receipt was pushed
// to without confirmation — not only the first one tried. Real queue.
func TestUnconfirmedPushesInTheViews(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	q := queue.NewManager(st, nil, queue.ManagerConfig{})
	now := time.Now()
	m := &queue.Message{ID: st.NewID(now), State: queue.Ready, From: "a@example.org", NextAttempt: now.Add(time.Hour), OrgID: orgid.New(),
		Rcpts: []queue.Recipient{{Addr: "b@example.net", Status: queue.Pending}}}
	m.ShadowServer, m.ShadowID = "hub-b", m.OrgID
	if err := st.Update(context.Background(), func(tx *queue.Tx) error { return tx.PutNewBody(m, queue.MemBody([]byte("x\r\n"))) }); err != nil {
		t.Fatal(err)
	}
	if err := q.MarkSingleCopy(m.ID, "hub-b", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := q.RecopyPushing(m.ID, "hub-d"); err != nil {
		t.Fatal(err)
	}
	s, err := Listen(filepath.Join(dir, "admin.sock"), q, nil, Status{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	get := func(path string, out any) {
		t.Helper()
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), out) != nil {
			t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
		}
	}
	var single []SingleCopyView
	get("/v1/shadows/single", &single)
	if len(single) != 1 || single[0].Lost != "hub-b" || !slices.Equal(single[0].AlsoPushed, []string{"hub-d"}) {
		t.Fatalf("shadow single %+v; want lost on hub-b, also pushed to hub-d", single)
	}
	if err := q.ShadowRecopied(m.ID, "hub-c"); err != nil {
		t.Fatal(err)
	}
	var v MessageView
	get("/v1/messages/"+m.ID.String(), &v)
	want := []queue.UnconfirmedPush{{Server: "hub-b", DiscardOwed: true}, {Server: "hub-d", DiscardOwed: true}}
	if v.ShadowCopy != "hub-c" || !slices.Equal(v.Unconfirmed, want) {
		t.Fatalf("message show: copy %q, unconfirmed %+v; want hub-c, and hub-b and hub-d with their discards owed", v.ShadowCopy, v.Unconfirmed)
	}
}
