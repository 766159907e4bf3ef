package admin

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"umbra/internal/queue"
)

// OPS-42 item 2: a remove --dry-run of a message of 10,000 recipients
// named every one of them, in the answer and on the terminal. The
// answer names the first TakesShown of each message and counts the
// rest (more), and other_queues stays the exact count of all of them.
func TestOPS42DryRunRemoveBoundsTheRecipientsNamed(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	q := queue.NewManager(st, nil, queue.ManagerConfig{}) // not started: the message waits
	const n = 10000
	m := &queue.Message{ID: st.NewID(time.Now()), State: queue.Ready, From: "a@example.org"}
	for i := range n {
		d := "example.net"
		if i%4 == 3 {
			d = "example.com" // 2,500 outside the queue selected
		}
		m.Rcpts = append(m.Rcpts, queue.Recipient{Addr: fmt.Sprintf("r%d@%s", i, d), Status: queue.Pending, Queue: d})
	}
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
	if len(res.Takes) != 1 {
		t.Fatalf("dry run takes %d messages, want 1", len(res.Takes))
	}
	tk := res.Takes[0]
	if len(tk.Recipients) != TakesShown || tk.More != n-TakesShown {
		t.Errorf("dry run names %d recipients and %d more, want %d and %d", len(tk.Recipients), tk.More, TakesShown, n-TakesShown)
	}
	if len(tk.Recipients) > 0 && tk.Recipients[0].Address != "r0@example.net" {
		t.Errorf("first recipient named %q, want r0@example.net (the message's order)", tk.Recipients[0].Address)
	}
	if res.OtherQueues != n/4 {
		t.Errorf("dry run counts %d recipients in other queues, want %d (all of them, named or not)", res.OtherQueues, n/4)
	}
}
