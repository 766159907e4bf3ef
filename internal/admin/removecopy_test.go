package admin

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/queue"
	"umbra/internal/tracking"
)

// rt36 F1: `message remove` of a shadow copy on its holder, by id or by
// --all, left the primary's message on one disk without a word. By id
// it is refused naming the primary and --force, --all skips it (and
// says so), a dry run predicts both; --force removes it.
func TestRemoveOfShadowCopyNeedsForce(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	q := queue.NewManager(st, nil, queue.ManagerConfig{})
	m := &queue.Message{ID: st.NewID(time.Now()), State: queue.Shadow, From: "a@example.org",
		Rcpts: []queue.Recipient{{Addr: "b@example.net", Status: queue.Shadowed, Primary: "hub-a.example", ShadowID: "x-1"}}}
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

	err = c.MessageAction(id, "remove", false)
	var ae *APIError
	if !errors.As(err, &ae) || !strings.Contains(ae.Msg, "hub-a.example") || !strings.Contains(ae.Msg, "--force") {
		t.Fatalf("remove of a shadow copy by id: %v; want a refusal naming the primary and --force", err)
	}
	if err := c.CheckMessageAction(id, "remove"); err == nil {
		t.Fatal("dry run of remove of a shadow copy: no refusal")
	}
	res, err := c.BulkAction("remove", queue.MessageFilter{}, true, false, false)
	if err != nil || len(res.Done) != 0 || res.Skipped["shadow copies"] != 1 {
		t.Fatalf("remove --all: %+v %v; want the copy skipped", res, err)
	}
	if got, _ := q.Message(m.ID); got == nil {
		t.Fatal("the copy is gone without --force")
	}
	if err := c.CheckMessageActionForce(id, "remove", true); err != nil {
		t.Fatalf("dry run of remove --force: %v", err)
	}
	res, err = c.BulkActionForce("remove", queue.MessageFilter{}, true, true, false, true)
	if err != nil || len(res.Done) != 1 || len(res.Skipped) != 0 {
		t.Fatalf("remove --all --force --dry-run: %+v %v", res, err)
	}
	if err := c.MessageActionForce(id, "remove", false, true); err != nil {
		t.Fatalf("remove --force: %v", err)
	}
	if got, _ := q.Message(m.ID); got != nil {
		t.Fatalf("the copy after remove --force: %+v", got)
	}
}
