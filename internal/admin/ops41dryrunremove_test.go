package admin

import (
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"umbra/internal/queue"
)

// OPS-5 (rt41 F6): message remove --queue Q --dry-run said "ID: would
// remove" and nothing of the message's recipients that wait in other
// queues, which the real removal deletes with it (the removal takes the
// whole message). The dry run lists what would go — each recipient the
// removal takes, with its queue, as the real removal's audit line lists
// them — and counts those outside Q.
func TestOPSDryRunRemoveListsTheRecipientsThatGo(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	q := queue.NewManager(st, nil, queue.ManagerConfig{}) // not started: the message waits
	m := &queue.Message{ID: st.NewID(time.Now()), State: queue.Ready, From: "a@example.org",
		Rcpts: []queue.Recipient{
			{Addr: "alice@example.test", Status: queue.Delivered, Queue: "example.test"},
			{Addr: "bob@example.net", Status: queue.Pending, Queue: "example.net"},
			{Addr: "carol@example.com", Status: queue.Pending, Queue: "example.com"},
		}}
	if err := st.Update(context.Background(), func(tx *queue.Tx) error { return tx.PutNew(m, []byte("Subject: x\r\n\r\nx\r\n")) }); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "admin.sock")
	s, err := Listen(sock, q, nil, Status{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	defer s.Shutdown(context.Background())
	res, err := NewClient(sock).BulkActionForce("remove", queue.MessageFilter{Queue: "example.net"}, false, true, false, false)
	if err != nil {
		t.Fatal(err)
	}
	want := []BulkTake{{ID: m.ID.String(), Recipients: []BulkRecipient{
		{Address: "bob@example.net", Queue: "example.net"},
		{Address: "carol@example.com", Queue: "example.com"},
	}}}
	if !slices.EqualFunc(res.Takes, want, func(a, b BulkTake) bool { return a.ID == b.ID && slices.Equal(a.Recipients, b.Recipients) }) {
		t.Errorf("dry run takes %+v, want %+v", res.Takes, want)
	}
	if res.OtherQueues != 1 {
		t.Errorf("dry run counts %d recipients in other queues, want 1 (carol)", res.OtherQueues)
	}
	if _, err := q.Message(m.ID); err != nil {
		t.Errorf("the dry run changed the message: %v", err)
	}
}
