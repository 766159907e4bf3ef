package smtp

import (
	"fmt"
	"strings"
	"testing"
)

// SMTP-1 (RFC 5321 §4.4, RFC 3848, RFC 6531 §3.7.3): the Received
// field's "with" names the protocol the message came by: SMTP after
// HELO — whatever else the session did: RFC 3848 registers no TLS or
// AUTH variant of plain SMTP, and SMTPUTF8 needs EHLO —, ESMTP after
// EHLO, with S for TLS and A for an authenticated client, and UTF8SMTP
// for a transaction under SMTPUTF8 (rt26b F2: a HELO session was
// stamped "with ESMTP"). The greeting that counts is the last one.
func TestReceivedProtocolType(t *testing.T) {
	cert, key, pool := testCert(t)
	creds := credsFile(t)
	conns := connectors(t, fmt.Sprintf(`
  - name: front
    bindings: ["127.0.0.1:0"]
    tls: {cert_file: %q, key_file: %q}
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit, relay]}
`, cert, key, creds))
	q := &fakeQueue{}
	s := startServer(t, q, conns...)
	const auth = "AUTH PLAIN AGFsaWNlAHNlY3JldA=="
	for _, tc := range []struct {
		name  string
		steps []string // "TLS" runs STARTTLS; any other step is a command answered 2xx/3xx
		utf8  bool
		want  string
	}{
		{"HELO", []string{"HELO c.test"}, false, "SMTP"},
		{"EHLO", []string{"EHLO c.test"}, false, "ESMTP"},
		{"EHLO+TLS", []string{"EHLO c.test", "TLS", "EHLO c.test"}, false, "ESMTPS"},
		{"TLS+HELO", []string{"EHLO c.test", "TLS", "HELO c.test"}, false, "SMTP"},
		{"EHLO+AUTH", []string{"EHLO c.test", auth}, false, "ESMTPA"},
		{"EHLO+TLS+AUTH", []string{"EHLO c.test", "TLS", "EHLO c.test", auth}, false, "ESMTPSA"},
		{"AUTH+HELO", []string{"EHLO c.test", auth, "HELO c.test"}, false, "SMTP"},
		{"HELO+EHLO", []string{"HELO c.test", "EHLO c.test"}, false, "ESMTP"},
		{"EHLO+HELO", []string{"EHLO c.test", "HELO c.test"}, false, "SMTP"},
		{"SMTPUTF8", []string{"EHLO c.test"}, true, "UTF8SMTP"},
		{"SMTPUTF8+TLS", []string{"EHLO c.test", "TLS", "EHLO c.test"}, true, "UTF8SMTPS"},
		{"SMTPUTF8+AUTH", []string{"EHLO c.test", auth}, true, "UTF8SMTPA"},
		{"SMTPUTF8+TLS+AUTH", []string{"EHLO c.test", "TLS", "EHLO c.test", auth}, true, "UTF8SMTPSA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := dial(t, s, "")
			d.expect("220")
			for _, st := range tc.steps {
				if st == "TLS" {
					d.startTLS(pool)
					continue
				}
				d.cmd(st, "2")
			}
			mail := "MAIL FROM:<a@example.org>"
			if tc.utf8 {
				mail += " SMTPUTF8"
			}
			n := q.count()
			d.cmd(mail, "250")
			d.cmd("RCPT TO:<b@example.test>", "250")
			d.cmd("DATA", "354")
			d.cmd("Subject: x\r\n\r\nhi\r\n.", "250")
			d.cmd("QUIT", "221")
			if q.count() != n+1 {
				t.Fatalf("no message queued")
			}
			q.mu.Lock()
			body := string(q.bodies[n])
			q.mu.Unlock()
			head, _, _ := strings.Cut(body, ";")
			if !strings.Contains(head, "(umbra) with "+tc.want+" id ") {
				t.Errorf("Received field %q, want with %s", head, tc.want)
			}
		})
	}
}
