package smtp

import (
	"strings"
	"testing"
)

// rt17d-F3: a session over IPv6 is traced with the RFC 5321 §4.1.3
// address literal, "[IPv6:::1]", not "[::1]".
func TestReceivedIPv6AddressLiteral(t *testing.T) {
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, `
  - name: v6
    bindings: ["[::1]:0"]
    permissions: {anonymous: [submit]}
`)...)
	d := dial(t, s, "")
	d.expect("220 mx.test")
	d.cmd("EHLO v6.example", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<bob@example.test>", "250")
	d.cmd("DATA", "354")
	d.cmd("Subject: x\r\n\r\nbody\r\n.", "250 2.0.0")
	if q.count() != 1 {
		t.Fatalf("%d messages submitted", q.count())
	}
	if body, want := string(q.bodies[0]), "Received: from v6.example ([IPv6:::1])"; !strings.HasPrefix(body, want) {
		t.Fatalf("trace field %q, want it to begin %q", body[:min(len(body), 80)], want)
	}
}
