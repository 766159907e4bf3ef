package smtp

import (
	"bytes"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// SMTP-8 (front39 F1): a client that pipelines and never reads, whose
// replies all fit in the server's socket buffer — no reply's write
// blocks, so none times out — is still a client that does not read its
// replies: when idle_timeout passes with them unread, its session ends
// as "write timeout" (counted so), with nothing more written — not as
// an idle client given a 421 behind the replies it never read.
func TestSMTP8UnreadRepliesAtIdleTimeoutAreAWriteTimeout(t *testing.T) {
	logs := &syncBuffer{}
	obs := &rejectObserver{why: map[string]int{}}
	s := startWith(t, ServerConfig{Queue: &fakeQueue{}, Observer: obs, Log: slog.New(slog.NewTextHandler(logs, nil)), Connectors: connectors(t, `
  - name: front
    bindings: ["127.0.0.154:0"]
    permissions: {anonymous: [submit]}
    limits: {idle_timeout: 1s}
`)})
	c := dialNonReading(t, s, "127.0.0.155")
	var stream bytes.Buffer
	stream.WriteString("EHLO n.test\r\n")
	for i := 0; i < 150; i++ {
		stream.WriteString("MAIL FROM:<a@ext.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\nSubject: NR\r\n\r\nnoread\r\n.\r\n")
	}
	c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(stream.Bytes()); err != nil {
		t.Fatalf("the stream did not go out whole (the test needs every command read): %v", err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for len(logs.lines("session ended")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the session of a client that never reads did not end")
		}
		time.Sleep(50 * time.Millisecond)
	}
	l := logs.lines("session ended")
	if len(l) != 1 || !strings.Contains(l[0], `reason="write timeout"`) {
		t.Errorf("session end logged as %q, want reason=\"write timeout\"", l)
	}
	if n := obs.count(RejectWriteTimeout); n != 1 {
		t.Errorf("write timeouts counted: %d, want 1", n)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, _ := io.ReadAll(c)
	if bytes.Contains(got, []byte("421 4.4.2")) {
		t.Errorf("a 421 was written behind the replies the client never read: …%q", got[max(0, len(got)-120):])
	}
}
