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

	"umbra/internal/orgid"
	"umbra/internal/queue"
)

// rr notopo38: "holder not reachable since the start: it may have taken
// this over" is said of a message held here while this server was away;
// one that arrived after the holder's first failed probe (so after this
// server's start) was never away, and no view says it of it — neither
// shadow single nor message show. A message from before still has it.
// Real queue.
func TestUnreachedNoteNotForMessageArrivedSince(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	q := queue.NewManager(st, nil, queue.ManagerConfig{})
	now := time.Now()
	put := func(arrived time.Time) *queue.Message {
		m := &queue.Message{ID: st.NewID(arrived), State: queue.Ready, From: "a@example.org", NextAttempt: now.Add(time.Hour), OrgID: orgid.New(),
			Arrived: arrived, Rcpts: []queue.Recipient{{Addr: "b@example.net", Status: queue.Pending}}}
		m.ShadowServer, m.ShadowID = "hub-b", m.OrgID
		if err := st.Update(context.Background(), func(tx *queue.Tx) error { return tx.PutNewBody(m, queue.MemBody([]byte("x\r\n"))) }); err != nil {
			t.Fatal(err)
		}
		if err := q.MarkSingleCopy(m.ID, "hub-b", ""); err != nil {
			t.Fatal(err)
		}
		return m
	}
	firstFailed := now.Add(-time.Minute)
	before, since := put(now.Add(-time.Hour)), put(now)
	s, err := Listen(filepath.Join(dir, "admin.sock"), q, nil, Status{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	s.SetHoldersUnreached(func() map[string]time.Time { return map[string]time.Time{"hub-b": firstFailed} })
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
	notes := map[string]string{}
	for _, c := range single {
		notes[c.ID] = c.HolderUnreached
	}
	if len(single) != 2 || notes[before.ID.String()] == "" || notes[since.ID.String()] != "" {
		t.Fatalf("shadow single notes %v; want the note for %s (arrived before) only", notes, before.ID)
	}
	var v MessageView
	get("/v1/messages/"+since.ID.String(), &v)
	if v.HolderUnreached != "" {
		t.Fatalf("message show of a message that arrived after the holder's first failed probe: %q", v.HolderUnreached)
	}
	get("/v1/messages/"+before.ID.String(), &v)
	if v.HolderUnreached == "" {
		t.Fatal("message show of a message held while this server was away has no note")
	}
}
