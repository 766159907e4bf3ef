package smtp

import (
	"fmt"
	"net"
	"testing"
)

// rt21b L4, SMTP-2: rights a reload takes from a connector (its relay
// right, its submit right) apply to the sessions already open from their
// next transaction (MAIL) on; the transaction in progress keeps the
// recipients it has. Rights a reload gives apply the same way. The
// connector's other settings stay those the session started with
// (TestReloadInPlace).
func TestReloadRightsApplyFromNextMail(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	conf := func(rights string) string {
		return fmt.Sprintf(`
  - name: default
    bindings: [%q]
    permissions: {anonymous: [%s]}
`, addr, rights)
	}
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, conf("submit, relay"))...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<x@example.org>", "250")
	if err := s.Reload(connectors(t, conf("submit")), testTable()); err != nil {
		t.Fatal(err)
	}
	// The open transaction keeps what it was given.
	d.cmd("DATA", "354")
	d.cmd("Subject: x\r\n\r\nhi\r\n.", "250 2.0.0")
	// The next one has the connector's rights as they are now.
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<y@example.org>", "550 5.7.1 Relay access denied")
	d.cmd("RCPT TO:<bob@example.test>", "250")
	d.cmd("RSET", "250")
	// Rights given by a reload reach the open session too.
	if err := s.Reload(connectors(t, conf("submit, relay")), testTable()); err != nil {
		t.Fatal(err)
	}
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<z@example.org>", "250")
	d.cmd("RSET", "250")
	// A connector left with no anonymous right takes no MAIL.
	if err := s.Reload(connectors(t, conf("")), testTable()); err != nil {
		t.Fatal(err)
	}
	d.cmd("MAIL FROM:<a@example.org>", "530 5.7.1")
	if q.count() != 1 {
		t.Fatalf("%d messages queued, want 1", q.count())
	}
}
