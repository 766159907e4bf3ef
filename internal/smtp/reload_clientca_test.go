package smtp

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"umbra/internal/routing"
)

// SMTP-8, SMTP-2: a transport server by its TLS client
// certificate is one only while the connector in force trusts the CA
// that verified it. A reload that changes client_ca_file to a CA that
// did not sign it (the operator no longer trusts the old CA) refuses a
// new connection with the same certificate; the session open at the
// reload must not keep the servers' rights either — the same vouching
// claimOwn asks of externally_secured.
func TestSMTP8ClientCATakenAwayEndsCertificateServerRights(t *testing.T) {
	caPEM, leaf, _ := orgPKI(t)
	caFile := filepath.Join(t.TempDir(), "org-ca.pem")
	os.WriteFile(caFile, caPEM, 0o600)
	// The reload replaces the client CA by another one, which did not
	// sign hub7's certificate (taking client_ca_file away altogether
	// would leave permissions.servers to no session: refused at load).
	otherPEM, _, _ := orgPKI(t)
	otherFile := filepath.Join(t.TempDir(), "other-ca.pem")
	os.WriteFile(otherFile, otherPEM, 0o600)
	cert, key, serverPool := testCert(t)
	addr := freeAddr(t)
	conf := func(withCA bool) string {
		ca := fmt.Sprintf(", client_ca_file: %q", otherFile)
		if withCA {
			ca = fmt.Sprintf(", client_ca_file: %q", caFile)
		}
		return fmt.Sprintf(`
  - name: transport
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8", "::1/128"]
    tls: {cert_file: %q, key_file: %q%s}
    permissions: {anonymous: [submit], servers: [submit, relay, accept-xshadow]}
`, addr, cert, key, ca)
	}
	s := startShadowServer(t, &fakeQueue{}, &fakeShadow{notes: map[string][]string{}}, true, connectors(t, conf(true)))
	hub7 := routing.Server{Name: "hub7.test", Role: routing.RoleHub, Site: "s1", Address: "hub7.test:25"}
	with, _ := routing.NewTopology(routing.TopologyInput{Sites: []routing.Site{{Name: "s1"}}, Servers: []routing.Server{hub7}})
	s.SetServers(with)
	c := leaf("hub7.test")
	session := func() *dialog {
		d := dial(t, s, "")
		d.expect("220")
		d.cmd("EHLO hub7.test", "250")
		d.cmd("STARTTLS", "220")
		tc := tls.Client(d.conn, &tls.Config{RootCAs: serverPool, ServerName: "mx.test", Certificates: []tls.Certificate{c}})
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		d.conn, d.r = tc, bufio.NewReader(tc)
		d.cmd("EHLO hub7.test", "250")
		return d
	}
	d := session()
	d.cmd("MAIL FROM:<a@example.test>", "250")
	d.cmd("RCPT TO:<x@remote.example>", "250")
	d.cmd("RSET", "250")
	if err := s.Reload(connectors(t, conf(false)), testTable()); err != nil {
		t.Fatal(err)
	}
	// A new connection with the certificate is refused at its handshake
	// now (no CA in force signed it); the session open at the reload
	// keeps no servers' right either.
	d.cmd("MAIL FROM:<a@example.test>", "250")
	d.cmd("RCPT TO:<x@remote.example>", "550 5.7.1")
}
