package admin

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"umbra/internal/orgid"
	"umbra/internal/queue"
	"umbra/internal/tracking"
)

// rt19f F3: message show named the shadow copy of a message an operator
// holds, although the hold discarded it (queue hold.go). It names the
// copy only while it backs the message; resumed, the message is held by
// this server only until its copy is made again, and show, shadow single
// and the metric say so alike.
func TestMessageShowOfHeldMessageNamesNoDiscardedCopy(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	q := queue.NewManager(st, nil, queue.ManagerConfig{}) // not started: the message waits
	org := orgid.New()
	m := &queue.Message{ID: st.NewID(time.Now()), State: queue.Ready, From: "a@example.org", OrgID: org,
		ShadowServer: "hub-c", ShadowID: org,
		Rcpts: []queue.Recipient{{Addr: "b@example.net", Status: queue.Pending}}}
	if err := st.Update(context.Background(), func(tx *queue.Tx) error { return tx.PutNew(m, []byte("Subject: x\r\n\r\nx\r\n")) }); err != nil {
		t.Fatal(err)
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
	id := m.ID.String()
	if v, err := c.Message(id); err != nil || v.ShadowCopy != "hub-c" || v.SingleCopy != "" {
		t.Fatalf("before the hold: copy %q, single %q, %v; want the copy on hub-c", v.ShadowCopy, v.SingleCopy, err)
	}
	if err := c.MessageAction(id, "suspend", false); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Message(id); err != nil || v.ShadowCopy != "" {
		t.Fatalf("held: copy %q, %v; want none (the hold discarded it)", v.ShadowCopy, err)
	}
	if err := c.MessageAction(id, "resume", false); err != nil {
		t.Fatal(err)
	}
	v, err := c.Message(id)
	single, serr := c.SingleCopies()
	if err != nil || serr != nil || v.ShadowCopy != "" || v.SingleCopy == "" || len(single) != 1 || q.SingleCopyCount() != 1 {
		t.Fatalf("resumed: copy %q, single %q (%v); shadow single %+v (%v); metric %d; want held by this server only in all three",
			v.ShadowCopy, v.SingleCopy, err, single, serr, q.SingleCopyCount())
	}
}
