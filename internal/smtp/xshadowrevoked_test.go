package smtp

import (
	"fmt"
	"strings"
	"testing"

	"umbra/internal/routing"
)

func rr34Addr(t *testing.T) string { return freeAddrIn(t, "127.0.0.216", 15400, 15500) }

// SR-3, SMTP-8 (rr34 F1): a reload that takes accept-xshadow from the
// session's own connector (its address not moved) ends the open shadow
// session (421) at its next verb, as one moved to a connector without it
// is, and as a new connection is refused XSHADOW: it went on collecting
// discard notifications.
func TestSR3OwnConnectorLosingAcceptXShadowEndsShadowSession(t *testing.T) {
	creds := credsFile(t)
	hub2 := routing.Server{Name: "hub2", Role: routing.RoleHub, Site: "s1", Address: "hub2.example.test:25"}
	topo, _ := routing.NewTopology(routing.TopologyInput{Sites: []routing.Site{{Name: "s1"}}, Servers: []routing.Server{hub2}})
	addr := rr34Addr(t)
	conf := func(servers string) string {
		return fmt.Sprintf(`
  - name: plain
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit], servers: [%s]}
`, addr, creds, servers)
	}
	sh := &fakeShadow{notes: map[string][]string{"hub2": {"s1"}}}
	s := startShadowServer(t, &fakeQueue{}, sh, true, connectors(t, conf("submit, relay, accept-xshadow")))
	s.SetServers(topo)
	d := dial(t, s, "127.0.0.216")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2", "250")
	if err := s.Reload(connectors(t, conf("submit, relay")), testTable()); err != nil {
		t.Fatal(err)
	}
	fresh := dial(t, s, "127.0.0.216")
	fresh.expect("220")
	fresh.cmd("EHLO hub2.test", "250")
	fresh.cmd(authHub2, "235")
	if got := fresh.cmd("XSHADOW hub2", ""); strings.HasPrefix(got, "250") {
		t.Fatalf("fresh XSHADOW after the reload: %q", got)
	}
	if got := d.cmd("XQUERYDISCARD 10", ""); !strings.HasPrefix(got, "421 4.7.0 Shadow session ended") {
		t.Errorf("XQUERYDISCARD on a shadow session whose own connector a reload left without accept-xshadow: %q; want 421 4.7.0 Shadow session ended", got)
	}
}

// SR-3 (rr34): a long poll spanning a reload that gives the address to
// a connector without accept-xshadow is ended 421 when it wakes, and the
// notification that woke it stays for hub2's next session.
func TestSR3LongPollSpanningMoveJudgedWhenItWakes(t *testing.T) {
	addr := rr34Addr(t)
	dir := t.TempDir()
	creds := dir + "/creds"
	writeCreds(t, creds, "alice:secret", "hub2:hubpass:server")
	conf := func(ranges string) string {
		return fmt.Sprintf(`
  - name: transport
    bindings: [%q]
    remote_ranges: [%s]
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit], servers: [submit, relay, accept-xshadow]}
  - name: wide
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit], servers: [submit, relay]}
`, addr, ranges, creds, addr, creds)
	}
	hub2 := routing.Server{Name: "hub2", Role: routing.RoleHub, Site: "s1", Address: "hub2.example.test:25"}
	topo, _ := routing.NewTopology(routing.TopologyInput{Sites: []routing.Site{{Name: "s1"}}, Servers: []routing.Server{hub2}})
	sh := &signalShadow{fakeShadow: fakeShadow{notes: map[string][]string{}}, sig: discardSig{ch: map[string]chan struct{}{}}}
	s := startShadowServer(t, &fakeQueue{}, sh, true, connectors(t, conf(`"127.0.0.0/16"`)))
	s.SetServers(topo)
	d := longPollHub2(t, s, sh, "127.0.0.216")
	if err := s.Reload(connectors(t, conf(`"127.0.0.149/32"`)), testTable()); err != nil {
		t.Fatal(err)
	}
	sh.commit("hub2", "n1")
	if got := d.reply(); !strings.HasPrefix(got, "421 4.7.0 Shadow session ended") {
		t.Errorf("a long poll woken after a reload moved its address to a connector without accept-xshadow: %q", got)
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if len(sh.notes["hub2"]) != 1 {
		t.Errorf("notifications left for hub2: %v; want the one that woke the poll", sh.notes["hub2"])
	}
}
