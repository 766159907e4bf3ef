package admin

import (
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"umbra/internal/orgid"
	"umbra/internal/queue"
)

// rt20f F4 / rt21a L2: after message suspend and resume, the views said
// the message's shadow copy "was lost", where the hold discarded it on
// purpose (queue hold.go). Held, message show says the hold discarded
// it and that it is made again when the hold goes; resumed, message
// show and shadow single say the same of the mark (its kind "held"),
// not a loss. And a shadow copy's recipient waits in shadow:PRIMARY in
// every view: message show as message list, not "-".
func TestViewsSayTheHoldDiscardedTheCopy(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	q := queue.NewManager(st, nil, queue.ManagerConfig{}) // not started: the messages wait
	org := orgid.New()
	m := &queue.Message{ID: st.NewID(time.Now()), State: queue.Ready, From: "a@example.org", OrgID: org,
		ShadowServer: "hub-c", ShadowID: org, NextAttempt: time.Now().Add(time.Hour),
		Rcpts: []queue.Recipient{{Addr: "b@example.net", Status: queue.Pending}}}
	copyOrg := orgid.New()
	cp := &queue.Message{ID: st.NewID(time.Now()), OrgID: copyOrg, From: "c@example.org", Arrived: time.Now(),
		Rcpts: []queue.Recipient{{Addr: "d@example.net"}}}
	if err := st.Update(context.Background(), func(tx *queue.Tx) error { return tx.PutNew(m, []byte("Subject: x\r\n\r\nx\r\n")) }); err != nil {
		t.Fatal(err)
	}
	if stored, err := q.SubmitShadowCopy(context.Background(), cp, []byte("Subject: y\r\n\r\ny\r\n"), "hub-a", "127.0.0.1:25", "dbA"); err != nil || !stored {
		t.Fatalf("shadow copy: %v, %v", stored, err)
	}
	sock := filepath.Join(dir, "admin.sock")
	s, err := Listen(sock, q, nil, Status{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	defer s.Shutdown(context.Background())
	c := NewClient(sock)
	id := m.ID.String()

	if err := c.MessageAction(id, "suspend", false); err != nil {
		t.Fatal(err)
	}
	v, err := c.Message(id)
	if err != nil || v.ShadowCopy != "" || !strings.Contains(v.SingleCopy, "its shadow copy on hub-c was discarded when the message was held; made again when it goes") {
		t.Fatalf("held: copy %q, single %q (%v); want the copy on hub-c discarded by the hold", v.ShadowCopy, v.SingleCopy, err)
	}

	if err := c.MessageAction(id, "resume", false); err != nil {
		t.Fatal(err)
	}
	v, err = c.Message(id)
	if err != nil || !strings.Contains(v.SingleCopy, "its shadow copy on hub-c was discarded when the message was held") || strings.Contains(v.SingleCopy, "was lost") {
		t.Fatalf("resumed: single %q (%v); want the copy discarded by the hold, not lost", v.SingleCopy, err)
	}
	single, err := c.SingleCopies()
	if err != nil || len(single) != 1 || single[0].Lost != "hub-c" || single[0].How != queue.HowHeld {
		t.Fatalf("shadow single: %+v (%v); want the message, its copy on hub-c discarded by the hold (how %q)", single, err, queue.HowHeld)
	}

	// The copy kept here for hub-a: one queue in every view.
	cv, err := c.Message(cp.ID.String())
	if err != nil || len(cv.Recipients) != 1 || cv.Recipients[0].Queue != "shadow:hub-a" || !slices.Equal(cv.Queues, []string{"shadow:hub-a"}) {
		t.Fatalf("message show of the copy: queues %v, recipients %+v (%v); want shadow:hub-a in both", cv.Queues, cv.Recipients, err)
	}
	list, err := c.Messages(queue.MessageFilter{Queue: "shadow:hub-a"})
	if err != nil || len(list) != 1 || len(list[0].Recipients) != 1 || list[0].Recipients[0].Queue != "shadow:hub-a" {
		t.Fatalf("message list of shadow:hub-a: %+v (%v); want the copy, its recipient in shadow:hub-a", list, err)
	}
}
