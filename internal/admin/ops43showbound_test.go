package admin

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"umbra/internal/queue"
	"umbra/internal/tracking"
)

// ops43Message puts a waiting message of n recipients and returns it.
func ops43Message(t *testing.T, st *queue.Store, n int) *queue.Message {
	t.Helper()
	m := &queue.Message{ID: st.NewID(time.Now()), State: queue.Ready, From: "a@example.org"}
	for i := range n {
		m.Rcpts = append(m.Rcpts, queue.Recipient{Addr: fmt.Sprintf("r%d@example.net", i), Status: queue.Pending, Queue: "example.net"})
	}
	if err := st.Update(context.Background(), func(tx *queue.Tx) error { return tx.PutNew(m, []byte("Subject: x\r\n\r\nx\r\n")) }); err != nil {
		t.Fatal(err)
	}
	return m
}

// OPS-43 item 1: message show of a message of 50,000 recipients had
// the answer carry (and the terminal print) every one of them. The
// answer names the first RecipientsShown, in the message's order, and
// counts the rest (recipients_more); recipients=all (show --all) gives
// them all.
func TestOPS43MessageShowBoundsTheRecipientsNamed(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	q := queue.NewManager(st, nil, queue.ManagerConfig{}) // not started: the message waits
	const n = 50000
	m := ops43Message(t, st, n)
	sock := filepath.Join(dir, "admin.sock")
	s, err := Listen(sock, q, nil, Status{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	defer s.Shutdown(context.Background())
	c := NewClient(sock)
	v, err := c.Message(m.ID.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Recipients) != RecipientsShown || v.RecipientsMore != n-RecipientsShown {
		t.Errorf("show names %d recipients and %d more, want %d and %d", len(v.Recipients), v.RecipientsMore, RecipientsShown, n-RecipientsShown)
	}
	if len(v.Recipients) > 0 && v.Recipients[0].Address != "r0@example.net" {
		t.Errorf("first recipient named %q, want r0@example.net (the message's order)", v.Recipients[0].Address)
	}
	all, err := c.MessageAll(m.ID.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Recipients) != n || all.RecipientsMore != 0 {
		t.Errorf("show --all names %d recipients and %d more, want %d and 0", len(all.Recipients), all.RecipientsMore, n)
	}
}

// OPS-43 item 1: the audit entry of the removal of a message of 50,000
// recipients listed every one of them. It names the first
// RecipientsShown still pending and counts the rest (recipients_more).
func TestOPS43AuditEntryBoundsTheRecipientsNamed(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	q := queue.NewManager(st, nil, queue.ManagerConfig{})
	const n = 50000
	m := ops43Message(t, st, n)
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
	if err := NewClient(sock).MessageAction(m.ID.String(), "remove", false); err != nil {
		t.Fatal(err)
	}
	es, err := tl.Search(tracking.Query{Events: []string{"admin"}})
	if err != nil || len(es) != 1 {
		t.Fatalf("audit entries %d (%v), want 1", len(es), err)
	}
	if len(es[0].Recipients) != RecipientsShown || es[0].RecipientsMore != n-RecipientsShown {
		t.Errorf("audit entry names %d recipients and %d more, want %d and %d", len(es[0].Recipients), es[0].RecipientsMore, RecipientsShown, n-RecipientsShown)
	}
	if len(es[0].Recipients) > 0 && es[0].Recipients[0] != "r0@example.net" {
		t.Errorf("first recipient named %q, want r0@example.net", es[0].Recipients[0])
	}
}
