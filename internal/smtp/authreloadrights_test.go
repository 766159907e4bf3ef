package smtp

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"umbra/internal/routing"
)

// SMTP-8: a session that authenticated with a
// server account and never said XSHADOW relays by the servers' group;
// once its server leaves the topology, its next RCPT to a remote domain
// is refused. Baseline: holds.
func TestSMTP8ServerAccountLeavesTopologyLosesRelay(t *testing.T) {
	hub2 := routing.Server{Name: "hub2", Role: routing.RoleHub, Site: "s1", Address: "hub2.example.test:25"}
	other := routing.Server{Name: "hub9", Role: routing.RoleHub, Site: "s1", Address: "hub9.example.test:25"}
	with, _ := routing.NewTopology(routing.TopologyInput{Sites: []routing.Site{{Name: "s1"}}, Servers: []routing.Server{hub2, other}})
	without, _ := routing.NewTopology(routing.TopologyInput{Sites: []routing.Site{{Name: "s1"}}, Servers: []routing.Server{other}})
	q := &fakeQueue{}
	s := startShadowServer(t, q, &fakeShadow{notes: map[string][]string{}}, true, transportConnector(t, ""))
	s.SetServers(with)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	d.cmd("MAIL FROM:<a@example.test>", "250")
	d.cmd("RCPT TO:<x@remote.example>", "250")
	d.cmd("RSET", "250")
	s.SetServers(without)
	d.cmd("MAIL FROM:<a@example.test>", "250")
	d.cmd("RCPT TO:<x@remote.example>", "550 5.7.1")
}

// SMTP-8: the same for a transport server by its TLS client certificate
// (no AUTH, no XSHADOW): once the topology no longer has the server its
// certificate names, a new connection with that certificate gets no
// relay, and the session open at the reload must not keep it either.
func TestSMTP8CertificateServerLeavesTopologyLosesRelay(t *testing.T) {
	caPEM, leaf, _ := orgPKI(t)
	caFile := filepath.Join(t.TempDir(), "org-ca.pem")
	os.WriteFile(caFile, caPEM, 0o600)
	cert, key, serverPool := testCert(t)
	s := startShadowServer(t, &fakeQueue{}, &fakeShadow{notes: map[string][]string{}}, true, connectors(t, fmt.Sprintf(`
  - name: transport
    bindings: ["127.0.0.1:0"]
    remote_ranges: ["127.0.0.0/8", "::1/128"]
    tls: {cert_file: %q, key_file: %q, client_ca_file: %q}
    permissions: {anonymous: [submit], servers: [submit, relay, accept-xshadow]}
`, cert, key, caFile)))
	hub7 := routing.Server{Name: "hub7.test", Role: routing.RoleHub, Site: "s1", Address: "hub7.test:25"}
	other := routing.Server{Name: "hub9", Role: routing.RoleHub, Site: "s1", Address: "hub9.example.test:25"}
	with, _ := routing.NewTopology(routing.TopologyInput{Sites: []routing.Site{{Name: "s1"}}, Servers: []routing.Server{hub7, other}})
	without, _ := routing.NewTopology(routing.TopologyInput{Sites: []routing.Site{{Name: "s1"}}, Servers: []routing.Server{other}})
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
	s.SetServers(without)
	n := session() // a new connection: no longer a transport server
	n.cmd("MAIL FROM:<a@example.test>", "250")
	n.cmd("RCPT TO:<x@remote.example>", "550 5.7.1")
	d.cmd("MAIL FROM:<a@example.test>", "250")
	d.cmd("RCPT TO:<x@remote.example>", "550 5.7.1")
}

// SMTP-8: a session that is a transport server by its connector's trust
// alone (externally_secured, no AUTH, no XSHADOW) relays by the servers'
// group; a reload that takes the trust away (keeping the servers' group
// for server accounts that log in) must not leave it relay a new
// connection would not get.
func TestSMTP8TrustRemovedNonShadowSessionLosesRelay(t *testing.T) {
	addr := freeAddr(t)
	creds := credsFile(t)
	conf := func(trusted bool) string {
		return fmt.Sprintf(`
  - name: transport
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    externally_secured: %v
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], servers: [submit, relay, accept-xshadow]}
`, addr, trusted, creds)
	}
	s := startShadowServer(t, &fakeQueue{}, &fakeShadow{notes: map[string][]string{}}, true, connectors(t, conf(true)))
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.test>", "250")
	d.cmd("RCPT TO:<x@remote.example>", "250")
	d.cmd("RSET", "250")
	if err := s.Reload(connectors(t, conf(false)), testTable()); err != nil {
		t.Fatal(err)
	}
	n := dial(t, s, "")
	n.expect("220")
	n.cmd("EHLO c", "250")
	n.cmd("MAIL FROM:<a@example.test>", "250")
	n.cmd("RCPT TO:<x@remote.example>", "550 5.7.1") // a new connection: anonymous
	d.cmd("MAIL FROM:<a@example.test>", "250")
	d.cmd("RCPT TO:<x@remote.example>", "550 5.7.1")
}

// Held (brief case): a shadow session accepted by its address alone
// (externally_secured, no credential) ends at its next shadow verb once
// its server's address leaves the topology.
func TestSR1AddressLeavesTopologyEndsShadowSession(t *testing.T) {
	mk := func(addr string) *routing.Topology {
		tp, err := routing.NewTopology(routing.TopologyInput{Sites: []routing.Site{{Name: "s1"}},
			Servers: []routing.Server{{Name: "edge7", Role: routing.RoleEdge, Site: "s1", Address: addr}}})
		if err != nil {
			t.Fatal(err)
		}
		return tp
	}
	s := startShadowServer(t, &fakeQueue{}, &fakeShadow{notes: map[string][]string{}}, true, transportConnector(t, "    externally_secured: true\n"))
	s.SetServers(mk("127.0.0.2:25"))
	d := dial(t, s, "127.0.0.2")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("XSHADOW edge7", "250 db-")
	d.cmd("XQUERYDISCARD 10", "250")
	s.SetServers(mk("127.0.0.5:25"))
	d.cmd("XQUERYDISCARD 10", "421 4.7.0")
	if l, err := d.r.ReadString('\n'); err == nil {
		t.Errorf("connection open after the 421: %q", l)
	}
}

// Held: reloads (connectors and topology) racing open sessions that
// authenticate, relay and use the shadow verbs (-race).
func TestSMTP8ReloadRacesSessions(t *testing.T) {
	addr := freeAddr(t)
	creds := credsFile(t)
	conf := func(trusted bool, size string) string {
		return fmt.Sprintf(`
  - name: transport
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    externally_secured: %v
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit], servers: [submit, relay, accept-xshadow]}
    limits: {max_message_size: %s, max_recipients: 5}
    rate_limits: {address: {messages: 100000}}
`, addr, trusted, creds, size)
	}
	hub2 := routing.Server{Name: "hub2", Role: routing.RoleHub, Site: "s1", Address: "hub2.example.test:25"}
	other := routing.Server{Name: "hub9", Role: routing.RoleHub, Site: "s1", Address: "hub9.example.test:25"}
	with, _ := routing.NewTopology(routing.TopologyInput{Sites: []routing.Site{{Name: "s1"}}, Servers: []routing.Server{hub2, other}})
	without, _ := routing.NewTopology(routing.TopologyInput{Sites: []routing.Site{{Name: "s1"}}, Servers: []routing.Server{other}})
	s := startShadowServer(t, &fakeQueue{}, &fakeShadow{notes: map[string][]string{}}, true, connectors(t, conf(false, "10KiB")))
	s.SetServers(with)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			s.Reload(connectors(t, conf(i%2 == 0, []string{"10KiB", "1KiB"}[i%2])), testTable())
			if i%3 == 0 {
				s.SetServers(without)
			} else {
				s.SetServers(with)
			}
		}
	}()
	for k := 0; k < 4; k++ {
		d := dial(t, s, "")
		d.expect("220")
		d.cmd("EHLO hub2.test", "250")
		d.cmd(authHub2, "")
		for i := 0; i < 30; i++ {
			d.cmd("MAIL FROM:<a@example.test>", "")
			d.cmd("RCPT TO:<x@remote.example>", "")
			r := d.cmd("RSET", "")
			if !strings.HasPrefix(r, "250") {
				break
			}
		}
		d.conn.Close()
	}
	close(stop)
	<-done
}

// SMTP-8: the README says of a session whose account a reload revoked
// "the first `MAIL` or `RCPT` those refuse … is refused `530 5.7.0`";
// an EHLO between the reload and that command drops the authentication
// silently (writeEHLO's dropRevokedAuth), and the refusal is still told:
// the MAIL is taken as anonymous, the RCPT that needs relay told 530.
func TestSMTP8RevokedAuthEHLOThenMail(t *testing.T) {
	addr := freeAddr(t)
	creds := credsFile(t)
	conf := fmt.Sprintf(`
  - name: sub
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit, relay]}
`, addr, creds)
	s := startShadowServer(t, &fakeQueue{}, &fakeShadow{notes: map[string][]string{}}, true, connectors(t, conf))
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd(authAlice, "235")
	b, _ := os.ReadFile(creds)
	var keep []string
	for _, l := range strings.Split(string(b), "\n") {
		if l != "" && !strings.HasPrefix(l, "alice:") {
			keep = append(keep, l)
		}
	}
	os.WriteFile(creds, []byte(strings.Join(keep, "\n")+"\n"), 0o600)
	if err := s.Reload(connectors(t, conf), testTable()); err != nil {
		t.Fatal(err)
	}
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<alice@example.test>", "250")   // the rights left take it: not told here
	d.cmd("RCPT TO:<x@remote.example>", "530 5.7.0") // refused anyway: the login's end told here
}
