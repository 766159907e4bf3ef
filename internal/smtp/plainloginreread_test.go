package smtp

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"umbra/internal/routing"
)

// SMTP-8, SR-3 (reread of the plain-account binding): the 451 at DATA names the login's end only where the
// login's rights in force would have kept the recipient — also where
// the login ended in the same judgement (the same reload that took the
// recipient's domain from the accepted domains, or took relay from
// every client). The session may still submit (anonymous submit) and
// has no relay: README promises "a reload took DOMAIN from this
// server's accepted domains", and a standing login (authenticated
// [submit]) would not have kept b@example.test either.
func TestSMTP8LoginEndNotBlamedWhenTheSameReloadTookTheRight(t *testing.T) {
	a, _ := bcrypt.GenerateFromPassword([]byte("secret"), bcrypt.MinCost)
	withAlice := revokeCreds(t, "alice:"+string(a)+"\n")
	without := revokeCreds(t, "bob:"+string(a)+"\n")
	for i, c := range []struct {
		name, perms, after, rcpt string
		table                    *routing.Table
		want                     string
	}{
		{"domain", "{anonymous: [submit], authenticated: [submit]}", "{anonymous: [submit], authenticated: [submit]}", "b@example.test",
			routing.NewTable([]routing.AcceptedDomain{{Domain: "other.test", Type: routing.Authoritative}}, nil),
			"example.test from this server's accepted domains"},
		{"relay", "{anonymous: [submit], authenticated: [submit, relay]}", "{anonymous: [submit], authenticated: [submit]}", "x@far.test",
			testTable(), "a reload of this server's receive connectors took the right"},
	} {
		t.Run(c.name, func(t *testing.T) {
			addr := fmt.Sprintf("127.0.0.153:%d", 37520+i)
			conf := func(creds, perms string) string {
				return fmt.Sprintf(`
  - name: sub
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: %s
`, addr, creds, perms)
			}
			s := startServer(t, &fakeQueue{}, connectors(t, conf(withAlice, c.perms))...)
			d := dial(t, s, "127.0.0.153")
			d.expect("220")
			d.cmd("EHLO c.test", "250")
			d.cmd(authAlice, "235")
			d.cmd("MAIL FROM:<alice@example.test>", "250")
			d.cmd("RCPT TO:<"+c.rcpt+">", "250")
			// One reload: alice removed, and the right taken from every client.
			if err := s.Reload(connectors(t, conf(without, c.after)), c.table); err != nil {
				t.Fatal(err)
			}
			got := d.cmd("DATA", "451 4.7.1")
			if strings.Contains(got, "authentication it was accepted under ended") || !strings.Contains(got, c.want) {
				t.Errorf("451 at DATA: %q; want %q named, not the login's end (a standing login would not have kept the recipient)", got, c.want)
			}
			d.cmd("QUIT", "221")
		})
	}
}

// SMTP-8, SR-3 (reread of the plain-account binding): a plain account's login on an externally secured
// connector names no server: the shadow session is bound by the
// topology (the connection's address) and "judged by that binding while
// it lasts" (TestSR3PlainAccountShadowSessionEndsWhenTheAddressMoves).
// A reload removing the plain account took nothing the shadow session
// stood on, yet it ended it, 421 "the account of this shadow session
// was revoked" — untrue: no account named the session's server.
func TestSR3PlainAccountRevokedDoesNotEndTopologyBoundShadowSession(t *testing.T) {
	h, _ := bcrypt.GenerateFromPassword([]byte("secret"), bcrypt.MinCost)
	creds := revokeCreds(t, "hub3:"+string(h)+"\n")
	conf := func(creds string) string {
		return fmt.Sprintf(`
  - name: transport
    bindings: ["127.0.0.153:7530"]
    remote_ranges: ["127.0.0.0/8"]
    externally_secured: true
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit], servers: [submit, relay, accept-xshadow]}
`, creds)
	}
	s := startShadowServer(t, &fakeQueue{}, &fakeShadow{}, true, connectors(t, conf(creds)))
	topo, err := routing.NewTopology(routing.TopologyInput{Sites: []routing.Site{{Name: "s1"}},
		Servers: []routing.Server{{Name: "hub3", Role: routing.RoleHub, Site: "s1", Address: "127.0.0.153:25"}}})
	if err != nil {
		t.Fatal(err)
	}
	s.SetServers(topo)
	d := dial(t, s, "127.0.0.153")
	d.expect("220")
	d.cmd("EHLO hub3.test", "250")
	d.cmd("AUTH PLAIN AGh1YjMAc2VjcmV0", "235") // hub3, a plain account
	d.cmd("XSHADOW hub3", "250")
	if err := s.Reload(connectors(t, conf(revokeCreds(t, "bob:"+string(h)+"\n"))), testTable()); err != nil {
		t.Fatal(err)
	}
	// A new connection from the address without any login opens it.
	n := dial(t, s, "127.0.0.153")
	n.expect("220")
	n.cmd("EHLO hub3.test", "250")
	n.cmd("XSHADOW hub3", "250")
	n.cmd("QUIT", "221")
	got := d.cmd("XQUERYDISCARD 10", "")
	if strings.HasPrefix(got, "421") {
		t.Errorf("the plain account's revocation ended the topology-bound shadow session: %q", got)
	}
	d.cmd("QUIT", "")
}

// SMTP-8, SR-3 (reread of the plain-account binding): on an externally secured connector that verifies client
// certificates, a plain account's login (no :server flag) names no
// server, so the session's XSHADOW is bound by its certificate's names
// (startShadow since 4323ff8d) — but trustedServer still took any login
// as ending the certificate's say and judged the session by its address
// alone. A session let into hub7's shadow session by its certificate
// (hub7's address not listed: the certificate decides) then had the
// umbra headers of what it relays removed: its message's org id lost,
// a new one given here — the identity the shadow session exists for.
// Without the login the same session keeps it.
func TestSR3PlainLoginOnCertificateSessionJudgedAsItsShadowSession(t *testing.T) {
	caPEM, leaf, _ := orgPKI(t)
	caFile := filepath.Join(t.TempDir(), "org-ca.pem")
	os.WriteFile(caFile, caPEM, 0o600)
	cert, key, serverPool := testCert(t)
	a, _ := bcrypt.GenerateFromPassword([]byte("secret"), bcrypt.MinCost)
	creds := revokeCreds(t, "alice:"+string(a)+"\n")
	const id = "0123456789abcdef0123456789abcdef"
	for i, login := range []bool{false, true} {
		t.Run(fmt.Sprint("login=", login), func(t *testing.T) {
			q := &fakeQueue{}
			conns := connectors(t, fmt.Sprintf(`
  - name: transport
    bindings: ["127.0.0.153:%d"]
    remote_ranges: ["127.0.0.0/8"]
    externally_secured: true
    tls: {cert_file: %q, key_file: %q, client_ca_file: %q}
    auth: {mechanisms: [PLAIN], credentials_file: %q}
    permissions: {anonymous: [submit], authenticated: [submit], servers: [submit, relay, accept-xshadow]}
`, 37540+i, cert, key, caFile, creds))
			s := startShadowServer(t, q, &fakeShadow{}, true, conns)
			hub7 := routing.Server{Name: "hub7.test", Role: routing.RoleHub, Site: "s1", Address: "hub7.invalid:25"}
			topo, err := routing.NewTopology(routing.TopologyInput{Sites: []routing.Site{{Name: "s1"}}, Servers: []routing.Server{hub7}})
			if err != nil {
				t.Fatal(err)
			}
			s.SetServers(topo)
			d := dial(t, s, "127.0.0.153")
			d.expect("220")
			d.cmd("EHLO hub7.test", "250")
			d.cmd("STARTTLS", "220")
			tc := tls.Client(d.conn, &tls.Config{RootCAs: serverPool, ServerName: "mx.test", Certificates: []tls.Certificate{leaf("hub7.test")}})
			if err := tc.Handshake(); err != nil {
				t.Fatal(err)
			}
			d.conn, d.r = tc, bufio.NewReader(tc)
			d.cmd("EHLO hub7.test", "250")
			if login {
				d.cmd(authAlice, "235")
			}
			d.cmd("XSHADOW hub7.test", "250")
			d.cmd("MAIL FROM:<a@example.org>", "250")
			d.cmd("RCPT TO:<b@example.test>", "250")
			d.cmd("DATA", "354")
			d.send("X-Umbra-Org-Id: " + id + "\r\nSubject: hi\r\n\r\nhi\r\n.\r\n")
			d.expect("250")
			if q.count() != 1 {
				t.Fatalf("%d messages queued", q.count())
			}
			if q.msgs[0].OrgID != id {
				t.Errorf("a session let into hub7.test's shadow session by its certificate lost its message's org id (got %q)", q.msgs[0].OrgID)
			}
		})
	}
}
