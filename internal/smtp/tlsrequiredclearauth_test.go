package smtp

import (
	"fmt"
	"strings"
	"testing"
)

// tlsRequiredConf is one connector at addr with a certificate, AUTH
// PLAIN and the given tls and auth additions (YAML flow).
func tlsRequiredConf(addr, cert, key, creds, tlsMore, authMore string) string {
	return fmt.Sprintf(`
  - name: in
    bindings: [%q]
    tls: {cert_file: %q, key_file: %q%s}
    auth: {mechanisms: [PLAIN], credentials_file: %q%s}
    permissions: {authenticated: [submit, relay]}
`, addr, cert, key, tlsMore, creds, authMore)
}

// SMTP-2, RFC 3207 (rt42-front F2): on a connector with tls.required,
// tls.required wins over auth.allow_insecure — a connector built with
// both (the configuration refuses to load it; the runtime holds the rule
// all the same) offers no AUTH before STARTTLS and refuses it there with
// the reply AUTH needing TLS gets (538 5.7.11): no password is taken in
// clear where the operator required TLS, and no login leads to the dead
// end of a MAIL that needs STARTTLS and a STARTTLS refused after AUTH.
func TestSMTP2TLSRequiredOffersNoAuthInClear(t *testing.T) {
	addr := freeAddrIn(t, "127.0.0.134", 13100, 13199)
	cert, key, _ := testCert(t)
	creds := credsFile(t)
	conns := connectors(t, tlsRequiredConf(addr, cert, key, creds, ", required: true", ""))
	conns[0].Auth.AllowInsecure = true // as a configuration built in code could have it
	s := startServer(t, &fakeQueue{}, conns...)
	d := dial(t, s, "127.0.0.134")
	d.expect("220")
	if ehlo := d.cmd("EHLO c", "250"); strings.Contains(ehlo, "AUTH") || !strings.Contains(ehlo, "STARTTLS") {
		t.Errorf("EHLO in clear on a tls.required connector:\n%s", ehlo)
	}
	d.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "538 5.7.11")
	d.cmd("RSET", "250")
	d.cmd("EHLO c", "250")
	d.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "538 5.7.11")
	// Pipelined with MAIL: the AUTH is refused, the MAIL wants STARTTLS.
	d.send("AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\nMAIL FROM:<a@example.test>\r\n")
	if r := d.reply(); !strings.HasPrefix(r, "538 5.7.11") {
		t.Errorf("pipelined AUTH: %q", r)
	}
	if r := d.reply(); !strings.HasPrefix(r, "530 5.7.0") {
		t.Errorf("MAIL after a refused AUTH: %q", r)
	}
	d.cmd("STARTTLS", "220")
}

// SMTP-2, RFC 3207 (rt42-front F2): a session that logged in in clear
// where allow_insecure let it, then narrowed by a reload to tls.required,
// is not left in a dead end (a MAIL that needs STARTTLS, a STARTTLS
// refused after AUTH): the reload revoked its login (one made in clear
// where AUTH is now over TLS only), and STARTTLS — at once, or after
// the MAIL, RCPT, EHLO or RSET that met the revocation — ends it and
// starts TLS; the client authenticates again under TLS and sends.
func TestSMTP2ClearLoginNarrowedToTLSRequiredMayStartTLS(t *testing.T) {
	cert, key, pool := testCert(t)
	creds := credsFile(t)
	for _, step := range []string{"STARTTLS", "MAIL", "RCPT", "EHLO", "RSET"} {
		t.Run(step, func(t *testing.T) {
			addr := freeAddrIn(t, "127.0.0.134", 13200, 13299)
			s := startServer(t, &fakeQueue{}, connectors(t, tlsRequiredConf(addr, cert, key, creds, "", ", allow_insecure: true"))...)
			d := dial(t, s, "127.0.0.134")
			d.expect("220")
			d.cmd("EHLO c", "250")
			d.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "235")
			if step == "RCPT" {
				d.cmd("MAIL FROM:<alice@example.test>", "250")
			}
			if err := s.Reload(connectors(t, tlsRequiredConf(addr, cert, key, creds, ", required: true", "")), testTable()); err != nil {
				t.Fatal(err)
			}
			switch step {
			case "MAIL":
				d.cmd("MAIL FROM:<alice@example.test>", "530 5.7.0")
			case "RCPT":
				d.cmd("RCPT TO:<x@remote.test>", "530 5.7.0")
				d.cmd("RSET", "250")
			case "EHLO":
				d.cmd("EHLO c", "250")
			case "RSET":
				d.cmd("RSET", "250")
			}
			d.startTLS(pool)
			d.cmd("EHLO c", "250")
			d.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "235")
			d.cmd("MAIL FROM:<alice@example.test>", "250")
			d.cmd("RCPT TO:<x@remote.test>", "250")
		})
	}
}
