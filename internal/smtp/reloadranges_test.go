package smtp

import (
	"fmt"
	"testing"
)

// SMTP-3 (rr27 F1): checkOpenRelay lets anonymous relay only on a
// connector whose remote_ranges are all non-public, trusting that the
// ranges decide who gets the connector's rights. A session keeps the
// connector (and its old ranges) it was accepted on, but a reload gives
// it the connector's new permissions (refreshRights). So a reload that
// narrows a connector from 0.0.0.0/0 to 10.0.0.0/8 and grants anonymous
// relay there — a configuration Load accepts — gives relay to sessions
// already open from addresses outside 10.0.0.0/8 (here 127.0.0.1, which
// stands for a public address: the new ranges refuse it a connection).
func TestSMTP3ReloadGivesNoRelayOutsideNewRanges(t *testing.T) {
	addr := freeAddr(t)
	conf := func(ranges, rights string) string {
		return fmt.Sprintf(`
  - name: default
    bindings: [%q]
    remote_ranges: [%s]
    permissions: {anonymous: [%s]}
`, addr, ranges, rights)
	}
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, conf(`"0.0.0.0/0", "::/0"`, "submit"))...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<x@example.org>", "550 5.7.1 Relay access denied")
	d.cmd("RSET", "250")
	// Anonymous relay, from 10.0.0.0/8 only: not an open relay by
	// checkOpenRelay (connectors() parses it with config.Parse).
	if err := s.Reload(connectors(t, conf(`"10.0.0.0/8"`, "submit, relay")), testTable()); err != nil {
		t.Fatal(err)
	}
	// A new connection from this address gets no connector at all.
	d2 := dial(t, s, "")
	d2.expect("554 5.7.1")
	// The session open from it gets no relay — nor any other right: no
	// connector would take its address now (rt31b F1).
	d.cmd("MAIL FROM:<a@example.org>", "530 5.7.1")
	d.cmd("RCPT TO:<victim@example.org>", "503")
}

// SMTP-3 (rr27 F1, siblings): a session takes the rights a reload adds
// only where the new configuration would accept it on its connector as
// it stands. Another connector of its binding with a more specific range
// takes its address now (the new configuration gives it that one's
// rights); its connector is no longer externally secured (it is an
// anonymous session now, with the rights both configurations grant an
// anonymous session there). A session the new configuration does
// accept on its connector gets the added right.
func TestSMTP3ReloadAddsRightsOnlyToSessionsItAccepts(t *testing.T) {
	addr := freeAddr(t)
	before := fmt.Sprintf(`
  - name: default
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    permissions: {anonymous: [submit]}
  - name: trusted
    bindings: [%q]
    remote_ranges: ["127.0.0.184/32"]
    externally_secured: true
    permissions: {servers: [submit]}
`, addr, addr)
	after := fmt.Sprintf(`
  - name: default
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    permissions: {anonymous: [submit, relay]}
  - name: public
    bindings: [%q]
    remote_ranges: ["127.0.0.182/32"]
    permissions: {anonymous: [submit]}
  - name: trusted
    bindings: [%q]
    remote_ranges: ["127.0.0.184/32"]
    permissions: {anonymous: [submit]}
`, addr, addr, addr)
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, before)...)
	open := func(from string) *dialog {
		d := dial(t, s, from)
		d.expect("220")
		d.cmd("EHLO c", "250")
		d.cmd("MAIL FROM:<a@example.org>", "250")
		d.cmd("RCPT TO:<x@example.org>", "550 5.7.1 Relay access denied")
		d.cmd("RSET", "250")
		return d
	}
	picked := open("127.0.0.182")   // on default; public takes it after the reload
	accepted := open("127.0.0.183") // on default, which still takes it
	trusted := open("127.0.0.184")  // a transport server by trusted's trust alone
	if err := s.Reload(withServerRights(connectors(t, after), 2, "submit", "relay"), testTable()); err != nil {
		t.Fatal(err)
	}
	t.Run("more specific connector", func(t *testing.T) {
		picked.t = t
		picked.cmd("MAIL FROM:<a@example.org>", "250")
		picked.cmd("RCPT TO:<victim@example.org>", "550 5.7.1 Relay access denied")
	})
	t.Run("no longer externally secured", func(t *testing.T) {
		// No longer a transport server (serverNow): an anonymous session
		// of trusted, whose rights both configurations grant — none
		// before the reload.
		trusted.t = t
		trusted.cmd("MAIL FROM:<a@example.org>", "530 5.7.1")
		trusted.cmd("RCPT TO:<victim@example.org>", "503")
	})
	accepted.cmd("MAIL FROM:<a@example.org>", "250")
	accepted.cmd("RCPT TO:<victim@example.org>", "250")
}

// SMTP-3 (rr27 F1, sibling): a reload that grants a right together with
// a requirement the session does not meet (auth.required) gives that
// right only once the session meets it: before AUTH its MAIL is refused
// as the requirement in force says (rt28b F1: the requirement is read
// from the configuration in force, not the one the session began
// with), after AUTH it is one the new configuration accepts.
func TestSMTP3ReloadRightWaitsForNewRequirement(t *testing.T) {
	addr := freeAddr(t)
	creds := credsFile(t)
	conf := func(required bool, rights string) string {
		return fmt.Sprintf(`
  - name: default
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    auth: {mechanisms: [PLAIN], credentials_file: %q, required: %v, allow_insecure: true}
    permissions: {anonymous: [%s]}
`, addr, creds, required, rights)
	}
	s := startServer(t, &fakeQueue{}, connectors(t, conf(false, "submit"))...)
	d := dial(t, s, "127.0.0.185")
	d.expect("220")
	d.cmd("EHLO c", "250")
	if err := s.Reload(connectors(t, conf(true, "submit, relay")), testTable()); err != nil {
		t.Fatal(err)
	}
	// auth.required as the reload has it (rt28b F1): no MAIL before AUTH.
	d.cmd("MAIL FROM:<a@example.org>", "530 5.7.0 Authentication required")
	d.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "235 2.0.0") // \0alice\0secret
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<victim@example.org>", "250")
}
