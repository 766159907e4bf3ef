package smtp

import (
	"fmt"
	"testing"

	"umbra/internal/routing"
)

// holderIDQueue is an ownersQueue that knows the transport database id
// recorded for each shadow server (HolderIDTeller).
type holderIDQueue struct {
	ownersQueue
	holders map[string]string // server -> its database id
}

func (q *holderIDQueue) ShadowHolderID(server string) (string, error) {
	return q.holders[server], nil
}

// SR-17, SR-1 (rr39, rt39 F2's gap): a client of an externally secured
// connector's trusted ranges stating XSHADOW hub2 from an address the
// topology does not give hub2 was told as a refusal of hub2 for its
// address (judged: hub2 marked unless a session of it was let in within
// five minutes). Any client there could so stop the copies made on a
// holder whose sessions had not come lately (with
// reject_on_shadow_failure, every sender refused 451 4.4.0). The
// connector's trust is the address, and the address is not hub2's: the
// refusal is hub2's only when the session presents the transport
// database id recorded here for hub2 (DB=, which hub2 states in every
// session and no stranger learns) — hub2's own sessions from an address
// its topology entry lacks. Without it, or with another id, nothing is
// noted.
func TestSR17TrustedStrangerWithoutServersDatabaseIDMarksNothing(t *testing.T) {
	topo, err := routing.NewTopology(routing.TopologyInput{Sites: []routing.Site{{Name: "s1"}},
		Servers: []routing.Server{{Name: "hub2", Role: routing.RoleHub, Site: "s1", Address: "192.0.2.10:25"}}})
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
	q := &holderIDQueue{ownersQueue: ownersQueue{markQueue: markQueue{mark: 5}}, holders: map[string]string{"hub2": "dbHub2"}}
	s := startShadowServer(t, q, newPartialShadow(), true, conns)
	s.SetServers(topo)
	r := &addrNotingReceipt{}
	s.SetReceiptShadow(r)

	for _, c := range []struct {
		xshadow string
		noted   bool
	}{
		{"XSHADOW hub2", false},
		{"XSHADOW hub2 MARK", false},
		{"XSHADOW hub2 MARK DB=dbStranger", false},
		{"XSHADOW hub2 MARK=3 DB=dbStranger", false},
		{"XSHADOW hub2 MARK DB=dbHub2", true},
	} {
		d := dial(t, s, "127.0.0.171")
		d.expect("220")
		d.cmd("EHLO somebody.test", "250")
		d.cmd(c.xshadow, "550 5.7.1 Server id does not match the connection's address")
		d.cmd("QUIT", "221")
		r.mu.Lock()
		got := r.byAddress
		r.byAddress = nil
		refused := len(r.refused)
		r.mu.Unlock()
		if refused != 0 {
			t.Fatalf("%s from 127.0.0.171: noted as a refusal of hub2", c.xshadow)
		}
		if c.noted && (len(got) != 1 || got[0] != "hub2") {
			t.Fatalf("%s from 127.0.0.171 (hub2's own database id): by address %q, want [hub2]", c.xshadow, got)
		}
		if !c.noted && len(got) != 0 {
			t.Fatalf("%s from 127.0.0.171: by address %q, want nothing noted (the client proves nothing about hub2)", c.xshadow, got)
		}
	}
}
