package smtp

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"umbra/internal/routing"
)

// plainClaimCreds: alice and hub3 plain accounts (no :server flag),
// hub2 a server account.
func plainClaimCreds(t *testing.T) string {
	t.Helper()
	a, _ := bcrypt.GenerateFromPassword([]byte("secret"), bcrypt.MinCost)
	h, _ := bcrypt.GenerateFromPassword([]byte("hubpass"), bcrypt.MinCost)
	p := filepath.Join(t.TempDir(), "creds")
	if err := os.WriteFile(p, []byte("alice:"+string(a)+"\nhub3:"+string(a)+"\nhub2:"+string(h)+":server\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// SR-17, W-2 (frontrt35 F1): the refusal of a shadow session that is no
// transport server's leaves no trace in the state of any server. A
// plain account (alice, no :server flag) stating hub2 or its own name at
// XSHADOW is refused (550 5.7.1) and noted for no one — without a
// topology its own name would otherwise become a "primary" refused in
// shadow list and the metrics, kept across restarts; and a plain account
// named like a transport server of the topology (hub3) does not mark
// that server's sessions refused (it would get no copy on receipt).
func TestSR17PlainAccountRefusalNotNoted(t *testing.T) {
	for _, withTopo := range []bool{false, true} {
		q := &markQueue{mark: 5}
		conns := connectors(t, `
  - name: transport
    bindings: ["127.0.0.150:7500"]
    remote_ranges: ["127.0.0.0/8"]
    auth: {mechanisms: [PLAIN], credentials_file: "`+plainClaimCreds(t)+`", allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit], servers: [submit, relay, accept-xshadow]}
`)
		s := startShadowServer(t, q, newPartialShadow(), true, conns)
		if withTopo {
			topo, err := routing.NewTopology(routing.TopologyInput{Sites: []routing.Site{{Name: "s1"}},
				Servers: []routing.Server{{Name: "hub2", Role: routing.RoleHub, Site: "s1", Address: "127.0.0.150:25"},
					{Name: "hub3", Role: routing.RoleHub, Site: "s1", Address: "127.0.0.150:25"}}})
			if err != nil {
				t.Fatal(err)
			}
			s.SetServers(topo)
		}
		r := &notingReceipt{}
		s.SetReceiptShadow(r)
		d := dial(t, s, "127.0.0.150")
		d.expect("220")
		d.cmd("EHLO alice.test", "250")
		d.cmd(authAlice, "235")
		d.cmd("XSHADOW hub2", "550 5.7.1")
		d.cmd("XSHADOW alice", "550 5.7.1")
		d.cmd("QUIT", "221")
		d.closed()
		d = dial(t, s, "127.0.0.150")
		d.expect("220")
		d.cmd("EHLO hub3.test", "250")
		d.cmd("AUTH PLAIN AGh1YjMAc2VjcmV0", "235") // hub3, a plain account
		d.cmd("XSHADOW hub3", "550 5.7.1")
		d.cmd("QUIT", "221")
		d.closed()
		s.Shutdown(t.Context())
		r.mu.Lock()
		if len(r.refused) != 0 {
			t.Errorf("topology %v: refusals of plain accounts noted as servers' sessions refused: %q", withTopo, r.refused)
		}
		r.mu.Unlock()
	}
}

// W-2, SR-3: on an externally secured connector, a plain account (no
// :server flag) stating its own name at XSHADOW is bound to the
// topology as a client with no credential is (bindServerID): its name
// says nothing about which server it is. Before, its login stood in for
// a server account's and skipped the binding, so a plain account named
// like a transport server listed by a host name that did not resolve
// (no address to check) opened that server's shadow session — and could
// collect its discard notifications — from any address of the trusted
// ranges. A server account of the same name may (its password is the
// server's), and the connector's trust alone may not.
func TestSR3PlainAccountOnExternallySecuredConnectorIsBound(t *testing.T) {
	conns := connectors(t, `
  - name: transport
    bindings: ["127.0.0.151:7510"]
    remote_ranges: ["127.0.0.0/8"]
    externally_secured: true
    auth: {mechanisms: [PLAIN], credentials_file: "`+plainClaimCreds(t)+`", allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit], servers: [submit, relay, accept-xshadow]}
`)
	s := startShadowServer(t, &fakeQueue{}, &fakeShadow{}, true, conns)
	topo, err := routing.NewTopology(routing.TopologyInput{Sites: []routing.Site{{Name: "s1"}},
		Servers: []routing.Server{{Name: "hub2", Role: routing.RoleHub, Site: "s1", Address: "hub2.invalid:25"},
			{Name: "hub3", Role: routing.RoleHub, Site: "s1", Address: "hub3.invalid:25"}}})
	if err != nil {
		t.Fatal(err)
	}
	s.SetServers(topo)
	for _, c := range []struct {
		name, auth, id, want string
	}{
		{"plain account hub3 states another name", "AUTH PLAIN AGh1YjMAc2VjcmV0", "nohub", "550 5.7.1 Server id is not a server of the organisation"},
		{"plain account hub3 states its own name", "AUTH PLAIN AGh1YjMAc2VjcmV0", "hub3", "550 5.7.1 Server id does not match the connection's address"},
		{"server account hub2", "AUTH PLAIN AGh1YjIAaHVicGFzcw==", "hub2", "250"},
		{"no login", "", "hub2", "550 5.7.1 Server id does not match the connection's address"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := dial(t, s, "127.0.0.151")
			d.expect("220")
			d.cmd("EHLO client.test", "250")
			if c.auth != "" {
				d.cmd(c.auth, "235")
			}
			d.cmd("XSHADOW "+c.id, c.want)
			d.cmd("QUIT", "221")
			d.closed()
		})
	}
}

// W-2, SR-3: the shadow session of a plain account on an externally
// secured connector, bound by its address (above), is judged by that
// binding for as long as it lasts: a topology that moves the server
// elsewhere ends it (421) at its next shadow verb, as it ends one the
// connector's trust alone opened.
func TestSR3PlainAccountShadowSessionEndsWhenTheAddressMoves(t *testing.T) {
	conns := connectors(t, `
  - name: transport
    bindings: ["127.0.0.151:7511"]
    remote_ranges: ["127.0.0.0/8"]
    externally_secured: true
    auth: {mechanisms: [PLAIN], credentials_file: "`+plainClaimCreds(t)+`", allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit], servers: [submit, relay, accept-xshadow]}
`)
	s := startShadowServer(t, &fakeQueue{}, &fakeShadow{}, true, conns)
	topoAt := func(addr string) *routing.Topology {
		topo, err := routing.NewTopology(routing.TopologyInput{Sites: []routing.Site{{Name: "s1"}},
			Servers: []routing.Server{{Name: "hub3", Role: routing.RoleHub, Site: "s1", Address: addr}}})
		if err != nil {
			t.Fatal(err)
		}
		return topo
	}
	s.SetServers(topoAt("127.0.0.151:25"))
	d := dial(t, s, "127.0.0.151")
	d.expect("220")
	d.cmd("EHLO hub3.test", "250")
	d.cmd("AUTH PLAIN AGh1YjMAc2VjcmV0", "235") // hub3, a plain account
	d.cmd("XSHADOW hub3", "250")
	s.SetServers(topoAt("127.0.0.152:25"))
	d.cmd("XQUERYDISCARD 10", "421 4.7.0 Shadow session ended: server hub3 no longer has this connection's address in the topology")
	d.closed()
}
