package smtp

import (
	"fmt"
	"testing"
)

// SMTP-1, SMTP-5 (front38 F5): a command the connector never offers is
// unknown there whatever the sequence — inside a BDAT transfer too:
// STARTTLS on a connector without a certificate gets 502 5.5.1 TLS not
// supported and the transfer goes on, as XSHADOW's 502 does; only on a
// connector that offers STARTTLS does it end the transfer (503 5.5.1 …
// transaction discarded), as MAIL, RCPT and DATA do.
func TestSMTP1UnofferedStartTLSInBDATTransferIsUnknown(t *testing.T) {
	cert, key, _ := testCert(t)
	for _, tc := range []struct {
		name, tls, reply string
		queued           int
	}{
		{"never offered", "", "502 5.5.1", 1},
		{"offered", fmt.Sprintf("\n    tls: {cert_file: %q, key_file: %q}", cert, key), "503 5.5.1 Not allowed during a BDAT transfer", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := &fakeQueue{}
			s := startServer(t, q, connectors(t, `
  - name: front
    bindings: ["`+frontAddr(t)+`"]`+tc.tls+`
    permissions: {anonymous: [submit]}
`)...)
			d := dial(t, s, "127.0.0.124")
			d.expect("220")
			d.cmd("EHLO c.test", "250")
			d.cmd("MAIL FROM:<a@example.org>", "250")
			d.cmd("RCPT TO:<b@example.test>", "250")
			d.cmd("BDAT 12\r\nSubject: t", "250") // "Subject: t\r\n"
			d.cmd("STARTTLS", tc.reply)
			d.cmd("XSHADOW hub2", "502 5.5.1 XSHADOW not available")
			if tc.queued == 1 {
				d.cmd("BDAT 6 LAST\r\n\r\nhi", "250")
			} else {
				d.cmd("BDAT 6 LAST\r\n\r\nhi", "503")
			}
			if q.count() != tc.queued {
				t.Fatalf("%d queued, want %d", q.count(), tc.queued)
			}
		})
	}
}
