package smtp

import (
	"fmt"
	"strings"
	"testing"
)

// REQUIRETLS (RFC 8689): advertised only once TLS is on; MAIL with it
// is refused outside TLS (530 5.7.10) and carried into the queue record
// over TLS.
func TestRequireTLSAdvertisedAndCarried(t *testing.T) {
	cert, key, pool := testCert(t)
	conns := connectors(t, fmt.Sprintf(`
  - name: internet
    bindings: ["127.0.0.1:0"]
    tls: {cert_file: %q, key_file: %q}
    permissions: {anonymous: [submit]}
`, cert, key))
	q := &fakeQueue{}
	s := startServer(t, q, conns...)
	d := dial(t, s, "")
	d.expect("220")
	if ehlo := d.cmd("EHLO c", "250"); strings.Contains(ehlo, "REQUIRETLS") {
		t.Fatalf("REQUIRETLS offered before TLS:\n%s", ehlo)
	}
	d.cmd("MAIL FROM:<a@example.org> REQUIRETLS", "530 5.7.10")
	d.startTLS(pool)
	if ehlo := d.cmd("EHLO c", "250"); !strings.Contains(ehlo, "250-REQUIRETLS") {
		t.Fatalf("REQUIRETLS not offered over TLS:\n%s", ehlo)
	}
	for _, rt := range []bool{true, false} {
		param := ""
		if rt {
			param = " REQUIRETLS"
		}
		d.cmd("MAIL FROM:<a@example.org>"+param, "250")
		d.cmd("RCPT TO:<b@example.test>", "250")
		d.cmd("DATA", "354")
		d.cmd("Subject: x\r\n\r\nhi\r\n.", "250")
	}
	if q.count() != 2 || !q.msgs[0].RequireTLS || q.msgs[1].RequireTLS {
		t.Fatalf("REQUIRETLS flags in the queue: %d messages", q.count())
	}
}
