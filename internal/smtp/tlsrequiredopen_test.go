package smtp

import (
	"fmt"
	"testing"
)

// SMTP-8, OPS-1 (rrops40): a reload that makes TLS required on the
// connector of a session in clear reads tls.required at the next MAIL
// (README: "tls.required and auth.required are read from the reloaded
// connector at each MAIL"): the transaction open at the reload keeps
// the rights both configurations grant and, without a login, is
// queued; the next MAIL gets 530 5.7.0 Must issue a STARTTLS command
// first, after which STARTTLS starts TLS. A login made in clear where
// the connector allowed it (allow_insecure) is one tls.required takes
// no more (rt42-front F2: it wins over allow_insecure, which the
// configuration refuses beside it): the reload revoked it, and the
// relay it gave the open transaction ends with it (451 4.7.1 at DATA,
// nothing queued: the client sends again, under TLS).
func TestSMTP8ReloadRequiringTLSReadAtNextMailInClear(t *testing.T) {
	certFile, keyFile, _ := testCert(t)
	creds := credsFile(t)
	conf := func(addr string, required bool) string {
		return fmt.Sprintf(`
  - name: sub
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    tls: {cert_file: %q, key_file: %q, required: %v}
    auth: {mechanisms: [PLAIN, LOGIN], credentials_file: %q, allow_insecure: %v}
    permissions: {anonymous: [submit], authenticated: [submit, relay]}
`, addr, certFile, keyFile, required, creds, !required)
	}
	for _, login := range []bool{true, false} {
		t.Run(fmt.Sprintf("login %v", login), func(t *testing.T) {
			addr := opsAddr(t)
			q := &fakeQueue{}
			s := startServer(t, q, connectors(t, conf(addr, false))...)
			open := dial(t, s, "127.0.0.126")
			open.expect("220")
			open.cmd("EHLO c", "250")
			rcpt := "bob@example.test"
			if login {
				open.cmd(authAlice, "235")
				rcpt = "zz@remote.test"
			}
			open.cmd("MAIL FROM:<alice@example.test>", "250")
			open.cmd("RCPT TO:<"+rcpt+">", "250")
			if err := s.Reload(connectors(t, conf(addr, true)), testTable()); err != nil {
				t.Fatal(err)
			}
			if login {
				open.cmd("DATA", "451 4.7.1 Recipient <zz@remote.test> no longer permitted: the authentication it was accepted under ended")
				if n := q.count(); n != 0 {
					t.Errorf("%d messages queued under a login the reload revoked", n)
				}
			} else {
				open.cmd("DATA", "354")
				open.cmd("Subject: x\r\n\r\nhello\r\n.", "250")
				if n := q.count(); n != 1 {
					t.Errorf("%d messages queued, want the one of the transaction open at the reload", n)
				}
			}
			open.cmd("MAIL FROM:<alice@example.test>", "530 5.7.0 Must issue a STARTTLS command first")
			open.cmd("STARTTLS", "220")
		})
	}
}
