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
    bindings: ["127.0.0.150:37500"]
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
