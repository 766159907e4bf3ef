package smtp

import (
	"bytes"
	"strings"
	"testing"
)

// SMTP-1, SMTP-5 (rrfront38): a STARTTLS the connection never offers,
// pipelined inside a BDAT transfer with the chunks around it, is one
// command between two chunks: 502, and the chunks' bytes are the body,
// whole, never read as commands (one framing authority).
func TestSMTP1UnofferedStartTLSPipelinedInBDATKeepsFraming(t *testing.T) {
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, `
  - name: front
    bindings: ["`+rrFrontAddr(t)+`"]
    permissions: {anonymous: [submit]}
`)...)
	d := dial(t, s, "127.0.0.215")
	d.expect("220")
	d.cmd("EHLO c.test", "250")
	d.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\nBDAT 12\r\nSubject: t\r\nSTARTTLS\r\nBDAT 10 LAST\r\n\r\nSTARTTLS")
	for _, want := range []string{"250", "250", "250", "502 5.5.1", "250"} {
		d.expect(want)
	}
	d.cmd("QUIT", "221")
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.bodies) != 1 {
		t.Fatalf("%d queued, want 1", len(q.bodies))
	}
	if !bytes.HasSuffix(q.bodies[0], []byte("Subject: t\r\n\r\nSTARTTLS")) || strings.Count(string(q.bodies[0]), "STARTTLS") != 1 {
		t.Errorf("body %q: want the chunks' bytes, the command not among them", q.bodies[0])
	}
}
