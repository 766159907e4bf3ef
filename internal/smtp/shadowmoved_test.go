package smtp

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"umbra/internal/routing"
)

// SR-1, W-4 (README: a moved session is answered as a new connection
// from its address is at the connector there): an open shadow session
// whose address a reload gave another connector — one that
// authenticates its server account as its own did, but grants no
// accept-xshadow — ends at its next shadow verb or MAIL with 421 4.7.0,
// as it does where no connector holds its account: a new connection
// there is refused XSHADOW, so this one does not keep collecting
// discard notifications under a right the connector at its address
// does not give.
func TestSR1MovedShadowSessionEndsWhereConnectorAtAddressGrantsNoAcceptXShadow(t *testing.T) {
	creds := credsFile(t)
	hub2 := routing.Server{Name: "hub2", Role: routing.RoleHub, Site: "s1", Address: "hub2.example.test:25"}
	topo, _ := routing.NewTopology(routing.TopologyInput{Sites: []routing.Site{{Name: "s1"}}, Servers: []routing.Server{hub2}})
	for _, verb := range []string{"XQUERYDISCARD 10", "MAIL FROM:<a@example.test> XSHADOW=c1"} {
		t.Run(strings.Fields(verb)[0], func(t *testing.T) {
			addr := laneAddr(t)
			conf := func(ranges string) string {
				return fmt.Sprintf(`
  - name: plain
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
			sh := &fakeShadow{notes: map[string][]string{"hub2": {"s1"}}}
			s := startShadowServer(t, &fakeQueue{}, sh, true, connectors(t, conf(`"127.0.0.0/16"`)))
			s.SetServers(topo)
			d := dial(t, s, "127.0.0.145")
			d.expect("220")
			d.cmd("EHLO hub2.test", "250")
			d.cmd(authHub2, "235")
			d.cmd("XSHADOW hub2", "250")
			if err := s.Reload(connectors(t, conf(`"127.0.0.149/32"`)), testTable()); err != nil {
				t.Fatal(err)
			}
			fresh := dial(t, s, "127.0.0.145")
			fresh.expect("220")
			fresh.cmd("EHLO hub2.test", "250")
			fresh.cmd(authHub2, "235")
			fresh.cmd("XSHADOW hub2", "502 5.5.1")
			if got := d.cmd(verb, ""); !strings.HasPrefix(got, "421 4.7.0 Shadow session ended") {
				t.Errorf("%s on a shadow session whose address a reload gave a connector without accept-xshadow: %q; want 421 4.7.0 Shadow session ended", verb, got)
			}
			d.closed()
		})
	}
}

// SR-3 ("Notifications are handed only to the authenticated server they
// belong to"), SR-15 (README: "a long poll … that such a reload … spans
// is judged again when it wakes"): a long poll (XQUERYDISCARD
// WAIT=) that spans a reload removing the shadow session's server
// account is judged again when it wakes: 421 4.7.0 Shadow session
// ended, and the notification that woke it stays for the server's next
// session — not handed to a session the configuration in force no
// longer makes that server's.
func TestSR3LongPollSpanningReloadJudgedWhenItWakes(t *testing.T) {
	addr := laneAddr(t)
	dir := t.TempDir()
	creds := dir + "/creds"
	writeCreds(t, creds, "alice:secret", "hub2:hubpass:server")
	conf := fmt.Sprintf(`
  - name: transport
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit], servers: [submit, relay, accept-xshadow]}
`, addr, creds)
	sh := &signalShadow{fakeShadow: fakeShadow{notes: map[string][]string{}}, sig: discardSig{ch: map[string]chan struct{}{}}}
	s := startShadowServer(t, &fakeQueue{}, sh, true, connectors(t, conf))
	d := longPollHub2(t, s, sh, "127.0.0.146")
	writeCreds(t, creds, "alice:secret")
	if err := s.Reload(connectors(t, conf), testTable()); err != nil {
		t.Fatal(err)
	}
	sh.commit("hub2", "n1")
	if got := d.reply(); !strings.HasPrefix(got, "421 4.7.0 Shadow session ended") {
		t.Errorf("a long poll woken after a reload removed its server account: %q; want 421 4.7.0 Shadow session ended", got)
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if len(sh.notes["hub2"]) != 1 {
		t.Errorf("notifications left for hub2: %v; want the one that woke the poll", sh.notes["hub2"])
	}
}

// longPollHub2 opens hub2's shadow session to s from the address from
// (its server login, XSHADOW) and begins a discard long poll
// (XQUERYDISCARD 10 WAIT=20), returned once sh has it waiting.
func longPollHub2(t *testing.T, s *Server, sh *signalShadow, from string) *dialog {
	t.Helper()
	d := dial(t, s, from)
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2", "250")
	d.send("XQUERYDISCARD 10 WAIT=20\r\n")
	waiting := func() bool {
		sh.sig.mu.Lock()
		defer sh.sig.mu.Unlock()
		return sh.sig.ch["hub2"] != nil
	}
	for i := 0; i < 500 && !waiting(); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if !waiting() {
		t.Fatal("the long poll did not begin")
	}
	return d
}
