package smtp

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"umbra/internal/config"
	"umbra/internal/routing"
)

// (SMTP-3, README "Only mail that originated inside the
// organisation is DKIM-signed"): a session whose address a reload gave
// another connector (its own dkim_sign connector narrowed away from the
// address) is answered as a new connection from its address would be
// there. Its mail is then no application server's: the operator took
// the address out of the connector that vouches for it, and the
// connector now at the address (no dkim_sign) signs nothing. A new
// connection's message is not Internal; neither may the moved
// session's be.
func TestSMTP2MovedSessionDKIMSignOfConnectorAtAddress(t *testing.T) {
	addr := freeAddr(t)
	conf := func(ranges string) string {
		return fmt.Sprintf(`
  - name: apps
    bindings: [%q]
    remote_ranges: [%s]
    dkim_sign: true
    permissions: {anonymous: [submit, relay]}
  - name: wide
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    permissions: {anonymous: [submit, relay]}
`, addr, ranges, addr)
	}
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, conf(`"127.0.0.0/16"`))...)
	send := func(d *dialog) {
		d.cmd("MAIL FROM:<a@example.org>", "250")
		d.cmd("RCPT TO:<b@example.test>", "250")
		d.cmd("DATA", "354")
		d.cmd("Subject: x\r\n\r\nhello\r\n.", "250")
	}
	moved := dial(t, s, "127.0.0.215")
	moved.expect("220")
	moved.cmd("EHLO c", "250")
	send(moved) // apps' application server: signed
	if err := s.Reload(connectors(t, conf(`"127.0.0.214/32"`)), testTable()); err != nil {
		t.Fatal(err)
	}
	send(moved)
	fresh := dial(t, s, "127.0.0.215")
	fresh.expect("220")
	fresh.cmd("EHLO c", "250")
	send(fresh)
	q.mu.Lock()
	defer q.mu.Unlock()
	got := internals(q)
	if len(got) != 3 || !got[0] || got[1] != got[2] {
		t.Fatalf("Internal of the messages (before the reload, the moved session after it, a new connection from its address): %v; want [true false false]", got)
	}
}

// (SMTP-3, SMTP-8): a reload that changes an account's
// password (its credentials file, which both connectors read) and
// narrows the session's connector away from its address, giving the
// address to another connector that authenticates, ends the session's
// authentication — and the session may AUTH again
// with the new password, judged by the connector at its address, to get
// what a new connection gets there (README: "or for an account it
// authenticated itself on the session since the reload"): its
// authenticated rights, both connectors granting relay.
func TestSMTP2MovedSessionRevokedThenAuthAgainRegainsAuthenticatedRights(t *testing.T) {
	addr := freeAddr(t)
	creds := credsFile(t)
	conf := func(ranges string) string {
		return fmt.Sprintf(`
  - name: plain
    bindings: [%q]
    remote_ranges: [%s]
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit, relay]}
  - name: wide
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit, relay]}
`, addr, ranges, creds, addr, creds)
	}
	s := startServer(t, &fakeQueue{}, connectors(t, conf(`"127.0.0.0/16"`))...)
	moved := dial(t, s, "127.0.0.216")
	moved.expect("220")
	moved.cmd("EHLO c", "250")
	moved.cmd(authAlice, "235")
	h, _ := bcrypt.GenerateFromPassword([]byte("secret2"), bcrypt.MinCost)
	if err := os.WriteFile(creds, []byte("alice:"+string(h)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(connectors(t, conf(`"127.0.0.214/32"`)), testTable()); err != nil {
		t.Fatal(err)
	}
	authAgain := "AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00alice\x00secret2"))
	fresh := dial(t, s, "127.0.0.216")
	fresh.expect("220")
	fresh.cmd("EHLO c", "250")
	fresh.cmd(authAgain, "235")
	fresh.cmd("MAIL FROM:<alice@example.test>", "250")
	fresh.cmd("RCPT TO:<x@remote.test>", "250")

	// Its authentication ends: the connector now at its address would
	// not authenticate the account with its old password (silently: the
	// rule of a moved session; a 530 where its own connector judges).
	if got := moved.cmd("MAIL FROM:<alice@example.test>", ""); strings.HasPrefix(got, "250") {
		moved.cmd("RSET", "250")
	} else if !strings.HasPrefix(got, "530 5.7.0") {
		t.Fatalf("MAIL after the reload: %q; want its authentication ended", got)
	}
	moved.cmd(authAgain, "235") // judged by wide
	moved.cmd("MAIL FROM:<alice@example.test>", "250")
	if got := moved.cmd("RCPT TO:<x@remote.test>", ""); !strings.HasPrefix(got, "250") {
		t.Errorf("moved session authenticated again at the connector at its address: RCPT %q; a new connection there: 250", got)
	}
}

// (SR-1, W-2): a shadow session opened by a server
// account that the connector taking the session's address after a
// reload authenticated (serverNow's new case) goes on only while the
// connector at its address would authenticate that account. A second
// reload that gives the address back to the session's own connector,
// whose credentials do not hold the account, ends it at its next MAIL
// (dropAuthOffAddress: 421) — and so must it at its next shadow verb
// (README: "its shadow session ends at its next MAIL or shadow verb"),
// not go on collecting discard notifications.
func TestSR1ShadowSessionOfMovedServerEndsAtShadowVerbWhenAddressReturns(t *testing.T) {
	creds := credsFile(t)
	a, _ := bcrypt.GenerateFromPassword([]byte("secret"), bcrypt.MinCost)
	aliceOnly := filepath.Join(t.TempDir(), "alice")
	if err := os.WriteFile(aliceOnly, []byte("alice:"+string(a)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hub2 := routing.Server{Name: "hub2", Role: routing.RoleHub, Site: "s1", Address: "hub2.example.test:25"}
	topo, _ := routing.NewTopology(routing.TopologyInput{Sites: []routing.Site{{Name: "s1"}}, Servers: []routing.Server{hub2}})
	addr := freeAddr(t)
	conf := func(ranges string) []config.ReceiveConnector {
		// plain grants the servers' rights too (no server account of
		// its own can use them: withServerRights).
		return withServerRights(connectors(t, fmt.Sprintf(`
  - name: plain
    bindings: [%q]
    remote_ranges: [%s]
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit, relay]}
  - name: wide
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit], servers: [submit, relay, accept-xshadow]}
`, addr, ranges, aliceOnly, addr, creds)), 0, "submit", "relay", "accept-xshadow")
	}
	sh := &fakeShadow{notes: map[string][]string{"hub2": {"s1", "s2"}}}
	s := startShadowServer(t, &fakeQueue{}, sh, true, conf(`"127.0.0.0/16"`))
	s.SetServers(topo)
	d := dial(t, s, "127.0.0.217")
	d.expect("220")
	if err := s.Reload(conf(`"127.0.0.214/32"`), testTable()); err != nil {
		t.Fatal(err)
	}
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235") // judged by wide, which takes the address now
	d.cmd("XSHADOW hub2", "250")
	if err := s.Reload(conf(`"127.0.0.0/16"`), testTable()); err != nil {
		t.Fatal(err)
	}
	// plain takes the address again and holds no hub2: a new connection
	// from it cannot be hub2's, so neither is this session.
	if got := d.cmd("XQUERYDISCARD 10", ""); !strings.HasPrefix(got, "421") {
		t.Errorf("XQUERYDISCARD on a shadow session whose account the connector at its address does not hold: %q; want 421 (as its next MAIL gets)", got)
		d.cmd("MAIL FROM:<a@example.test> XSHADOW=c1", "421 4.7.0 Shadow session ended") // the MAIL does end it
	}
}
