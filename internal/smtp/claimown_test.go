package smtp

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"umbra/internal/config"
	"umbra/internal/routing"
)

// notingReceipt is a ReceiptShadow that records the sessions noted
// refused and let in (SessionNoter).
type notingReceipt struct {
	mu      sync.Mutex
	refused []string
	letIn   []string
}

func (r *notingReceipt) Open(context.Context, string) (ReceiptLink, error) { return nil, errNoLink }
func (r *notingReceipt) ShadowSessionRefused(id string) {
	r.mu.Lock()
	r.refused = append(r.refused, id)
	r.mu.Unlock()
}
func (r *notingReceipt) ShadowSessionLetIn(id string) {
	r.mu.Lock()
	r.letIn = append(r.letIn, id)
	r.mu.Unlock()
}

var errNoLink = errors.New("no link")

// SR-17: a holder whose shadow sessions this server refuses gets no copy
// on receipt — but only a refusal of a session whose claim is its own
// counts. Any client may state a server's name at XSHADOW on a
// connector that offers the verb: an anonymous one saying "XSHADOW hub2"
// is refused and must not stop the copies made on hub2; hub2 itself,
// authenticated and refused (it presents another server's database id),
// is noted.
func TestSR17StrangersRefusalNotNotedForTheServerItNames(t *testing.T) {
	q := &ownersQueue{markQueue: markQueue{mark: 5}, owners: map[string]string{"dbB": "hub3"}}
	s := startShadowServer(t, q, newPartialShadow(), true, transportConnector(t, ""))
	r := &notingReceipt{}
	s.SetReceiptShadow(r)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO stranger.test", "250")
	d.cmd("XSHADOW hub2", "550 5.7.1")
	d.cmd("QUIT", "221")
	r.mu.Lock()
	if len(r.refused) != 0 {
		r.mu.Unlock()
		t.Fatalf("an anonymous session stating hub2 noted hub2's sessions refused (%q): any client could stop its copies", r.refused)
	}
	r.mu.Unlock()
	d = dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2 MARK DB=dbB", "550 5.7.1")
	d.cmd("QUIT", "221")
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.refused) != 1 || r.refused[0] != "hub2" {
		t.Fatalf("hub2 authenticated and refused: noted %q, want [hub2]", r.refused)
	}
}

// addrNotingReceipt is a notingReceipt told apart of refusals for the
// connection's address alone (AddressRefusalNoter).
type addrNotingReceipt struct {
	notingReceipt
	byAddress []string
}

func (r *addrNotingReceipt) ShadowSessionRefusedByAddress(id string) {
	r.mu.Lock()
	r.byAddress = append(r.byAddress, id)
	r.mu.Unlock()
}

// SR-17 (rt29a F2): hub2's valid server account from an address the
// topology does not give hub2 is refused at XSHADOW; that refusal's only
// cause is the address, and it is told so (AddressRefusalNoter: the
// receipt shadow judges whether it stands for hub2), not as a refusal of
// hub2's sessions. From hub2's address, let in as before; any other
// refusal of hub2 (another server's database id) is a refusal as before.
func TestSR17AddressOnlyRefusalToldApart(t *testing.T) {
	topo, err := routing.NewTopology(routing.TopologyInput{Sites: []routing.Site{{Name: "s1"}},
		Servers: []routing.Server{{Name: "hub2", Role: routing.RoleHub, Site: "s1", Address: "127.0.0.194:25"}}})
	if err != nil {
		t.Fatal(err)
	}
	q := &ownersQueue{markQueue: markQueue{mark: 5}, owners: map[string]string{"dbB": "hub3"}}
	s := startShadowServer(t, q, newPartialShadow(), true, transportConnector(t, ""))
	s.SetServers(topo)
	r := &addrNotingReceipt{}
	s.SetReceiptShadow(r)
	d := dial(t, s, "127.0.0.195")
	d.expect("220")
	d.cmd("EHLO elsewhere.test", "250")
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2", "550 5.7.1")
	d.cmd("QUIT", "221")
	d = dial(t, s, "127.0.0.194")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2 MARK DB=dbB", "550 5.7.1")
	d.cmd("XSHADOW hub2", "250")
	d.cmd("QUIT", "221")
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.byAddress) != 1 || r.byAddress[0] != "hub2" {
		t.Errorf("refusals for the address alone told: %q, want [hub2]", r.byAddress)
	}
	if len(r.refused) != 1 || r.refused[0] != "hub2" {
		t.Errorf("refusals told: %q, want [hub2] (the database id of another's, from hub2's address)", r.refused)
	}
	if len(r.letIn) != 1 {
		t.Errorf("sessions let in: %q, want one", r.letIn)
	}
}

// SR-17, SMTP-2: the trust of an externally secured connector vouches
// for its clients' claims (claimOwn) only while the configuration in
// force still gives it: after a reload took externally_secured away, a
// client of a connection opened before it that states hub2 at XSHADOW is
// refused, and that refusal must not stop the copies made on hub2 (the
// operator no longer vouches for that network).
func TestSR17TrustTakenAwayNoLongerVouchesForClaim(t *testing.T) {
	addr := freeAddr(t)
	conf := func(trusted bool) []config.ReceiveConnector {
		// The servers' rights stay; only the trust goes (granted after
		// the load: a file giving them where no session can be a
		// server is refused).
		return withServerRights(connectors(t, fmt.Sprintf(`
  - name: transport
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    externally_secured: %v
    permissions: {anonymous: [submit]}
`, addr, trusted)), 0, "submit", "relay", "accept-xshadow")
	}
	s := startShadowServer(t, &fakeQueue{}, &fakeShadow{notes: map[string][]string{}}, true, conf(true))
	r := &notingReceipt{}
	s.SetReceiptShadow(r)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	if err := s.Reload(conf(false), testTable()); err != nil {
		t.Fatal(err)
	}
	d.cmd("XSHADOW hub2", "550 5.7.1")
	d.cmd("QUIT", "221")
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.refused) != 0 {
		t.Fatalf("a refusal after the trust was taken away noted hub2's sessions refused (%q)", r.refused)
	}
}
