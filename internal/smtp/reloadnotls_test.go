package smtp

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"strings"
	"testing"
)

// SMTP-2: a reload that takes a receive connector's certificate away.
// The STARTTLS handshake is the connector in force's (reloadlimits.go):
// a connection opened before the reload is no longer offered STARTTLS at
// its next EHLO, and a STARTTLS it sends is 454 4.7.0 (RFC 3207: TLS not
// available), never a handshake with the certificate the operator took
// away; a session already under TLS keeps it to its end (its handshake
// is done); a new connection is offered none (502 5.5.1, as on a
// connector that never had one). The mail goes on in clear
// where the connector allows it.
func TestSMTP2ReloadRemovingCertificateEndsSTARTTLS(t *testing.T) {
	addr := freeAddr(t)
	cert, key, pool := testCert(t)
	withTLS := connectors(t, fmt.Sprintf(`
  - name: default
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    tls: {cert_file: %q, key_file: %q}
    permissions: {anonymous: [submit]}
`, addr, cert, key))
	s := startServer(t, &fakeQueue{}, withTLS...)
	open := dial(t, s, "") // opened with the certificate, still in clear at the reload
	open.expect("220")
	if ehlo := open.cmd("EHLO c", "250"); !strings.Contains(ehlo, "STARTTLS") {
		t.Fatalf("STARTTLS not offered before the reload:\n%s", ehlo)
	}
	secured := dial(t, s, "") // under TLS at the reload
	secured.expect("220")
	secured.cmd("EHLO c", "250")
	secured.startTLS(pool)
	secured.cmd("EHLO c", "250")
	mid := dial(t, s, "") // its STARTTLS answered 220, the handshake not begun
	mid.expect("220")
	mid.cmd("EHLO c", "250")
	mid.cmd("STARTTLS", "220")
	if err := s.Reload(connectors(t, txnYAML(addr, "")), testTable()); err != nil {
		t.Fatal(err)
	}
	// The handshake the 220 promised is made with the certificate it
	// was promised with.
	mtc := tls.Client(mid.conn, &tls.Config{RootCAs: pool, ServerName: "mx.test"})
	if err := mtc.Handshake(); err != nil {
		t.Fatalf("the handshake under way at the reload: %v", err)
	}
	mid.conn, mid.r = mtc, bufio.NewReader(mtc)
	mid.cmd("EHLO c", "250")
	if ehlo := open.cmd("EHLO c", "250"); strings.Contains(ehlo, "STARTTLS") {
		t.Errorf("STARTTLS offered after the reload took the certificate away:\n%s", ehlo)
	}
	open.cmd("STARTTLS", "454 4.7.0")
	open.cmd("MAIL FROM:<a@example.org>", "250")
	open.cmd("RCPT TO:<b@example.test>", "250")
	open.cmd("DATA", "354")
	open.cmd("Subject: x\r\n\r\nhi\r\n.", "250")

	secured.cmd("MAIL FROM:<a@example.org>", "250")
	secured.cmd("RCPT TO:<b@example.test>", "250")
	secured.cmd("DATA", "354")
	secured.cmd("Subject: x\r\n\r\nhi\r\n.", "250")
	if _, ok := secured.conn.(*tls.Conn); !ok {
		t.Fatal("the secured dialog is not under TLS")
	}

	fresh := dial(t, s, "")
	fresh.expect("220")
	if ehlo := fresh.cmd("EHLO c", "250"); strings.Contains(ehlo, "STARTTLS") {
		t.Errorf("a new connection is offered STARTTLS:\n%s", ehlo)
	}
	fresh.cmd("STARTTLS", "502 5.5.1") // as on a connector that never had one
}
