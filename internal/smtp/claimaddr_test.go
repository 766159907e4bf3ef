package smtp

import (
	"fmt"
	"testing"

	"umbra/internal/routing"
)

// SR-17, SR-1 (rt39 F2): on an externally secured connector the trust is
// the address, and a client whose address the topology does not give the
// server it names (neither its address nor one of its source_addresses)
// proves nothing about that server. Its XSHADOW is refused, and that
// refusal is not a refusal of the named server's sessions here: any
// client of the trusted ranges stating "XSHADOW hub2" stopped the copies
// on receipt made on hub2 (with reject_on_shadow_failure, the senders
// got 451 4.4.0), and shadow list blamed hub2. It is told as a refusal
// for the address alone (AddressRefusalNoter), as an account's from
// another address is: the receipt shadow marks hub2 only when no session
// of hub2 was let in lately (its own sessions from an address its
// topology entry lacks), and only when it presented the database id
// recorded for hub2 (rr39: strangerdb_test.go); this one presents none.
// A refusal of a session from the server's own address (here: another
// server's database id) still marks it.
func TestSR17TrustedStrangerRefusalNotNotedForServerItNames(t *testing.T) {
	topo, err := routing.NewTopology(routing.TopologyInput{Sites: []routing.Site{{Name: "s1"}},
		Servers: []routing.Server{
			{Name: "hub2", Role: routing.RoleHub, Site: "s1", Address: "192.0.2.10:25"},
			{Name: "hub3", Role: routing.RoleHub, Site: "s1", Address: "127.0.0.171:25"},
		}})
	if err != nil {
		t.Fatal(err)
	}
	conns := withServerRights(connectors(t, fmt.Sprintf(`
  - name: transport
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    externally_secured: true
    permissions: {anonymous: [submit]}
`, rt39Addr(t))), 0, "submit", "relay", "accept-xshadow")
	q := &ownersQueue{markQueue: markQueue{mark: 5}, owners: map[string]string{"dbB": "hub4"}}
	s := startShadowServer(t, q, newPartialShadow(), true, conns)
	s.SetServers(topo)
	r := &addrNotingReceipt{}
	s.SetReceiptShadow(r)

	d := dial(t, s, "127.0.0.171")
	d.expect("220")
	d.cmd("EHLO stranger.test", "250")
	if got := d.cmd("XSHADOW hub2", "550 5.7.1"); got != "550 5.7.1 Server id does not match the connection's address: 127.0.0.171 is neither that server's topology address nor one of its source_addresses" {
		t.Fatalf("XSHADOW hub2 from 127.0.0.171: %q", got)
	}
	d.cmd("QUIT", "221")
	r.mu.Lock()
	if len(r.refused) != 0 || len(r.byAddress) != 0 {
		r.mu.Unlock()
		t.Fatalf("a client from an address not hub2's: noted refused %q, by address %q; want nothing noted (it presented no database id of hub2's, rr39): any client of the trusted ranges could stop hub2's copies", r.refused, r.byAddress)
	}
	r.byAddress = nil
	r.mu.Unlock()

	// hub3, from its own address, refused: its refusal is hub3's.
	d = dial(t, s, "127.0.0.171")
	d.expect("220")
	d.cmd("EHLO hub3.test", "250")
	d.cmd("XSHADOW hub3 MARK DB=dbB", "550 5.7.1")
	d.cmd("XSHADOW hub3", "250")
	d.cmd("QUIT", "221")
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.refused) != 1 || r.refused[0] != "hub3" || len(r.byAddress) != 0 {
		t.Fatalf("hub3 refused from its own address: noted %q (by address %q), want [hub3]", r.refused, r.byAddress)
	}
}
