package smtp

import (
	"fmt"
	"testing"
)

// SMTP-8, RFC 4954 §4: a mechanism the connector does not offer is
// "504 5.5.4 Unrecognized authentication type" before STARTTLS as after
// it — TLS would not make it available, so "538 5.7.11 Encryption
// required" would send the client to negotiate TLS for nothing. A
// mechanism offered only after TLS keeps 538. The order is sequence,
// then syntax, then the mechanism, then TLS; it holds with an initial
// response, after RSET and after a second EHLO, on a transport and a
// submission connector alike.
func TestAuthUnknownMechanismIs504BeforeTLS(t *testing.T) {
	cert, key, pool := testCert(t)
	for _, tc := range []struct {
		name, mechs string
		offered     []string // mechanisms that get 538 before TLS
		unknown     []string // mechanisms that get 504 before and after TLS
	}{
		{"transport, PLAIN", "[PLAIN]", []string{"PLAIN", "plain"}, []string{"XYZZY", "CRAM-MD5", "LOGIN", "xyzzy", "SCRAM-SHA-256"}},
		{"submission, PLAIN and LOGIN", "[PLAIN, LOGIN]", []string{"PLAIN", "LOGIN", "login"}, []string{"XYZZY", "CRAM-MD5", "GSSAPI"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conns := connectors(t, fmt.Sprintf(`
  - name: c
    bindings: ["127.0.0.122:0"]
    tls: {cert_file: %q, key_file: %q, required: true}
    auth: {mechanisms: %s, credentials_file: %q}
    permissions: {servers: [submit, relay]}
    limits: {soft_error_limit: 1000, max_errors: 1000, max_junk_commands: 1000}
`, cert, key, tc.mechs, credsFile(t)))
			s := startShadowServer(t, &fakeQueue{}, &fakeShadow{}, false, conns)
			d := dial(t, s, "")
			d.expect("220")
			round := func(tls bool) {
				t.Helper()
				for _, m := range tc.unknown {
					d.cmd("AUTH "+m, "504 5.5.4")
					d.cmd("AUTH "+m+" dGVzdA==", "504 5.5.4")
				}
				if tls {
					return
				}
				for _, m := range tc.offered {
					d.cmd("AUTH "+m, "538 5.7.11")
				}
				// The syntax still comes before the mechanism.
				d.cmd("AUTH XYZZY !!!", "501 5.5.2")
				d.cmd("AUTH", "501 5.5.4")
			}
			d.cmd("EHLO c.test", "250")
			round(false)
			d.cmd("RSET", "250")
			round(false)
			d.cmd("EHLO c.test", "250")
			round(false)
			d.startTLS(pool)
			d.cmd("EHLO c.test", "250")
			round(true)
			d.cmd(authHub2, "235")
		})
	}
}
