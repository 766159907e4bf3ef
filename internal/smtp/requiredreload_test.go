package smtp

import (
	"fmt"
	"log/slog"
	"testing"
)

// rrFrontAddr is a free address on 127.0.0.215, ports 15500-15999: the
// lane of this file's tests.
func rrFrontAddr(t *testing.T) string { return freeAddrIn(t, "127.0.0.215", 15500, 16000) }

// SMTP-3 (rrfront38 F1): a requirement the session's connector had when
// it connected is no reload's only while the session is where every
// session there begins — its MAIL still to meet it. A transaction opened
// without it, under a reload that had taken it off, has not met it: a
// reload that puts tls.required or auth.required back, granting relay to
// those who meet it, gives that transaction no relay in cleartext or
// unauthenticated — its RCPT keeps only the rights both configurations
// grant, as on any connector a reload made tls.required or auth.required.
func TestSMTP3RequirementPutBackByReloadNarrowsOpenTransaction(t *testing.T) {
	cert, key, _ := testCert(t)
	creds := credsFile(t)
	conf := func(addr, tlsExtra, authExtra, anonymous string) string {
		return fmt.Sprintf(`
  - name: secure
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    tls: {cert_file: %q, key_file: %q%s}
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: %v%s}
    permissions: {anonymous: [%s], authenticated: [submit, relay]}
`, addr, cert, key, tlsExtra, creds, tlsExtra == "", authExtra, anonymous)
	}
	for _, tc := range []struct{ name, tlsExtra, authExtra string }{
		{"tls.required", ", required: true", ""},
		{"auth.required", "", ", required: true"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := rrFrontAddr(t)
			s := startWith(t, ServerConfig{Log: slog.New(slog.DiscardHandler),
				Connectors: connectors(t, conf(addr, tc.tlsExtra, tc.authExtra, "submit"))})
			d := dial(t, s, "127.0.0.215")
			d.expect("220")
			d.cmd("EHLO c.test", "250")
			// The requirement taken off: the session opens a transaction
			// without meeting it, as any session then may.
			if err := s.Reload(connectors(t, conf(addr, "", "", "submit")), testTable()); err != nil {
				t.Fatal(err)
			}
			d.cmd("MAIL FROM:<a@example.test>", "250")
			d.cmd("RCPT TO:<b@example.test>", "250")
			// Put back, with relay for those who meet it.
			if err := s.Reload(connectors(t, conf(addr, tc.tlsExtra, tc.authExtra, "submit, relay")), testTable()); err != nil {
				t.Fatal(err)
			}
			d.cmd("RCPT TO:<x@remote.test>", "550")
			d.cmd("QUIT", "221")
			d.closed()
		})
	}
}
