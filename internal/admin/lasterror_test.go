package admin

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"umbra/internal/queue"
)

// message list's LAST ERROR is the last error that still applies: the
// reply of a recipient still pending, as message show lists it, not
// an error an earlier attempt left for a recipient handed on since, and
// not nothing while a pending recipient's deferral stands (after an
// operator's resume). A poison message keeps the reason it was set
// aside, followed by its recipients' last reply; a message held in a
// suspended queue names the hold, followed by the reply its next hop
// gave before it (dsnlast47: the hold hid it).
func TestMessageLastErrorStillApplies(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	q := queue.NewManager(st, nil, queue.ManagerConfig{})
	later := time.Now().Add(time.Hour)
	stale := &queue.Message{ID: st.NewID(time.Now()), State: queue.Ready, From: "s@example.org", NextAttempt: later,
		LastError: "451 4.4.1 one.example down",
		Rcpts: []queue.Recipient{{Addr: "a@one.example", Status: queue.Relayed, LastReply: "250 2.0.0 ok"},
			{Addr: "b@two.example", Status: queue.Pending, LastReply: "451 4.4.2 two.example timed out"}}}
	resumed := &queue.Message{ID: st.NewID(time.Now()), State: queue.Ready, From: "s@example.org", NextAttempt: later,
		Rcpts: []queue.Recipient{{Addr: "c@three.example", Status: queue.Pending, LastReply: "452 4.2.2 mailbox full"}}}
	done := &queue.Message{ID: st.NewID(time.Now()), State: queue.Ready, From: "s@example.org", NextAttempt: later,
		LastError: "451 4.4.1 four.example down",
		Rcpts: []queue.Recipient{{Addr: "d@four.example", Status: queue.Delivered, LastReply: "250 ok"},
			{Addr: "e@five.example", Status: queue.Pending}}}
	poison := &queue.Message{ID: st.NewID(time.Now()), State: queue.Poison, From: "s@example.org", NextAttempt: later,
		LastError: "in flight during 3 crashes while umbra processed it",
		Rcpts:     []queue.Recipient{{Addr: "f@six.example", Status: queue.Pending, LastReply: "451 4.4.1 six down"}}}
	held := &queue.Message{ID: st.NewID(time.Now()), State: queue.Ready, From: "s@example.org", NextAttempt: later,
		LastError: queue.HeldReply("mx:seven.example"),
		Rcpts: []queue.Recipient{{Addr: "g@seven.example", Status: queue.Pending, Queue: "mx:seven.example",
			LastReply: queue.HeldReply("mx:seven.example"), HopReply: "451 4.7.1 greylisted", HopHost: "mx.seven.example[192.0.2.7]:25"}}}
	if err := q.SuspendQueue(context.Background(), "mx:seven.example"); err != nil {
		t.Fatal(err)
	}
	for _, m := range []*queue.Message{stale, resumed, done, poison, held} {
		if err := st.Update(context.Background(), func(tx *queue.Tx) error { return tx.PutNew(m, []byte("Subject: x\r\n\r\nx\r\n")) }); err != nil {
			t.Fatal(err)
		}
	}
	sock := filepath.Join(dir, "admin.sock")
	s, err := Listen(sock, q, nil, Status{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	defer s.Shutdown(context.Background())
	c := NewClient(sock)
	ms, err := c.Messages(queue.MessageFilter{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{stale.ID.String(): "451 4.4.2 two.example timed out", resumed.ID.String(): "452 4.2.2 mailbox full",
		done.ID.String(): "", poison.ID.String(): poison.LastError + "; last reply: 451 4.4.1 six down",
		held.ID.String(): "queue mx:seven.example is suspended (umbra queue resume mx:seven.example); last reply: 451 4.7.1 greylisted"}
	for _, m := range ms {
		if m.LastError != want[m.ID] {
			t.Errorf("message %s (%s): last error %q, want %q", m.ID, m.State, m.LastError, want[m.ID])
		}
		one, err := c.Message(m.ID)
		if err != nil || one.LastError != m.LastError {
			t.Errorf("message show %s: last error %q (%v), list %q", m.ID, one.LastError, err, m.LastError)
		}
	}
	if len(ms) != len(want) {
		t.Errorf("%d messages listed", len(ms))
	}
}
