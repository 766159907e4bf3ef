package smtp

import (
	"fmt"
	"strings"
	"testing"
)

// SMTP-2, SMTP-8: a connection opened on a connector without a
// certificate cannot start TLS. Where a reload leaves it answered by a
// connector (its own, given a certificate; or another one the reload
// gave its address to) that has auth.required and offers AUTH only over
// TLS, nothing on this connection can meet the requirement — only a new
// connection can. Every reply that says so is transient, and true: MAIL
// (and RCPT, DATA) get 421 4.7.0 "connect again" and the connection
// closes, as under tls.required; AUTH is 454 4.7.0, not 538 (a 5xx the
// client cannot cure on this connection); STARTTLS is 454 4.7.0 TLS not
// available where the connector answering it has a certificate, not
// go-smtp's 502 5.5.1 TLS not supported. None says the connection was
// opened "before its receive connector had a certificate" — the
// connector answering it may have had one all along.
func TestSMTP2AuthRequiredOnConnectionThatCannotStartTLSIsConnectAgain(t *testing.T) {
	cert, key, _ := testCert(t)
	creds := credsFile(t)
	for _, moved := range []bool{false, true} {
		t.Run(fmt.Sprintf("moved=%v", moved), func(t *testing.T) {
			addr := laneAddr(t)
			strict := func(name, ranges string) string {
				return fmt.Sprintf(`
  - name: %s
    bindings: [%q]
    remote_ranges: [%s]
    tls: {cert_file: %q, key_file: %q}
    auth: {mechanisms: [PLAIN], credentials_file: %q, required: true}
    permissions: {anonymous: [submit], authenticated: [submit, relay]}
`, name, addr, ranges, cert, key, creds)
			}
			plain := func(ranges string) string {
				return fmt.Sprintf(`
  - name: plain
    bindings: [%q]
    remote_ranges: [%s]
    permissions: {anonymous: [submit, relay]}
`, addr, ranges)
			}
			before, after := plain(`"127.0.0.0/8"`), strict("plain", `"127.0.0.0/8"`)
			if moved {
				before = plain(`"127.0.0.0/16"`) + strict("wide", `"127.0.0.0/8"`)
				after = plain(`"127.0.0.149/32"`) + strict("wide", `"127.0.0.0/8"`)
			}
			s := startServer(t, &fakeQueue{}, connectors(t, before)...)
			open := func() *dialog {
				d := dial(t, s, "127.0.0.143")
				d.expect("220")
				d.cmd("EHLO c", "250")
				return d
			}
			m, a, st, r := open(), open(), open(), open()
			for _, d := range []*dialog{m, r} {
				d.cmd("MAIL FROM:<a@example.test>", "250")
				d.cmd("RCPT TO:<b@example.test>", "250")
			}
			if err := s.Reload(connectors(t, after), testTable()); err != nil {
				t.Fatal(err)
			}
			for _, d := range []*dialog{a, st} {
				if ehlo := d.cmd("EHLO c", "250"); strings.Contains(ehlo, "STARTTLS") || strings.Contains(ehlo, "AUTH") {
					t.Errorf("a connection that cannot start TLS is offered what needs it:\n%s", ehlo)
				}
			}
			check := func(what, got, want string) {
				t.Helper()
				if !strings.HasPrefix(got, want) || !strings.Contains(got, "connect again") || strings.Contains(got, "opened before") {
					t.Errorf("%s on a connection that cannot start TLS: %q; want %s … connect again, and no word of when a certificate came", what, got, want)
				}
			}
			// The transaction open at the reload: its own connector's
			// requirements are read at MAIL (it goes on); where the
			// address went to another connector its recipients lost the
			// right they were taken under (451 4.7.1). Then MAIL.
			if moved {
				m.cmd("DATA", "451 4.7.1")
			} else {
				m.cmd("DATA", "354")
				m.cmd("Subject: x\r\n\r\nhi\r\n.", "250")
			}
			if moved {
				// A recipient outside the accepted domains in the
				// transaction open at the reload: what it lacks is the
				// AUTH this connection cannot make, not a relay right.
				check("RCPT", r.cmd("RCPT TO:<x@remote.test>", ""), "421 4.7.0")
			}
			check("MAIL", m.cmd("MAIL FROM:<a@example.test>", ""), "421 4.7.0")
			m.closed()
			check("AUTH", a.cmd(authAlice, ""), "454 4.7.0")
			a.cmd("MAIL FROM:<a@example.test>", "421 4.7.0")
			check("STARTTLS", st.cmd("STARTTLS", ""), "454 4.7.0")
			st.cmd("QUIT", "221")
		})
	}
}
