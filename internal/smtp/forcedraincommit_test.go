package smtp

import (
	"bufio"
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/queue"
)

// slowCommitQueue is a fakeQueue whose Submit waits for release: a
// commit that takes a while (an fsync under load).
type slowCommitQueue struct {
	*fakeQueue
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (q *slowCommitQueue) Submit(ctx context.Context, m *queue.Message, body []byte) error {
	q.once.Do(func() { close(q.entered) })
	<-q.release
	return q.fakeQueue.Submit(ctx, m, body)
}

// SMTP-, Q-1 (the front26 reread, F1): a drain whose time
// ran out (closeIdle(force)) writes 421 4.3.2 to a session whose message
// is being committed after its final dot. The README says a session cut
// at the drain "gets 421 4.3.2 and keeps no part of the message"; here
// the client reads the 421 — and so sends the message again — while the
// message is queued: a duplicate delivery.
func TestForceDrainDuringCommitTellsClientTheTruth(t *testing.T) {
	q := &slowCommitQueue{fakeQueue: &fakeQueue{}, entered: make(chan struct{}), release: make(chan struct{})}
	s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: connectors(t, endConnector), Routing: testTable(), Queue: q,
		Log: slog.New(slog.NewTextHandler(&syncBuffer{}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	s.Serve()
	c, err := net.DialTimeout("tcp", s.Addrs()[0].String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	c.Write([]byte("EHLO x.test\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n"))
	r := bufio.NewReader(c)
	var lines []string
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("no 354: %q %v", lines, err)
		}
		lines = append(lines, strings.TrimRight(l, "\r\n"))
		if strings.HasPrefix(l, "354") {
			break
		}
	}
	c.Write([]byte("Subject: t\r\n\r\nhello\r\n.\r\n"))
	select {
	case <-q.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("Submit never called")
	}
	// The drain's time is up: the sessions still open are forced.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	drained := make(chan struct{})
	go func() { s.Drain(ctx); close(drained) }()
	// What the client reads while the commit runs.
	got := make(chan string, 1)
	go func() {
		l, _ := r.ReadString('\n')
		got <- strings.TrimRight(l, "\r\n")
	}()
	var reply string
	select {
	case reply = <-got:
	case <-time.After(3 * time.Second):
	}
	close(q.release)
	if reply == "" {
		select {
		case reply = <-got:
		case <-time.After(10 * time.Second):
		}
	}
	<-drained
	s.Shutdown(context.Background())
	time.Sleep(100 * time.Millisecond)
	t.Logf("reply to the final dot: %q; messages queued: %d", reply, q.count())
	if !strings.HasPrefix(reply, "250") && q.count() > 0 {
		t.Errorf("the client was told %q after its final dot, yet the message was queued (%d): it sends it again, a duplicate", reply, q.count())
	}
}
