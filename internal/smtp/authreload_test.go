package smtp

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"umbra/internal/config"
)

// SR-1, OPS-1 (rt28b F1, sibling): a shadow session a transport server
// opened by its connector's trust alone (externally_secured, no
// credential) ends at its next shadow verb once a reload takes that
// trust away (421 4.7.0, the connection closed): it keeps no shadow
// verbs the configuration in force would not give a new connection.
func TestSR1TrustTakenAwayEndsShadowSession(t *testing.T) {
	addr := freeAddr(t)
	conf := func(trusted bool) string {
		return fmt.Sprintf(`
  - name: transport
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    externally_secured: %v
    permissions: {anonymous: [submit]}
`, addr, trusted)
	}
	// The servers' rights stay as they were; only the trust goes (a
	// file granting them where no session can be a server is refused
	// at load: they are given after it).
	conns := func(trusted bool) []config.ReceiveConnector {
		return withServerRights(connectors(t, conf(trusted)), 0, "submit", "relay", "accept-xshadow")
	}
	sh := &fakeShadow{notes: map[string][]string{}}
	s := startShadowServer(t, &fakeQueue{}, sh, true, conns(true))
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd("XSHADOW hub2", "250")
	d.cmd("XQUERYDISCARD 10", "250")
	if err := s.Reload(conns(false), testTable()); err != nil {
		t.Fatal(err)
	}
	d.cmd("XQUERYDISCARD 10", "421 4.7.0")
}

// SMTP-2, OPS-1 (rt28b F1, sibling): a reload that lowers a connector's
// max_message_size holds the sessions already open to it from their
// next MAIL (552 5.3.4 for a declared SIZE and for a body over it), as
// it holds new ones; one that raises it gives them nothing beyond the
// limit they began with (their EHLO announced that one).
func TestSMTP2ReloadLowersSizeLimitOfOpenSessions(t *testing.T) {
	addr := freeAddr(t)
	conf := func(size string) string {
		return fmt.Sprintf(`
  - name: default
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    permissions: {anonymous: [submit]}
    limits: {max_message_size: %s}
`, addr, size)
	}
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, conf("100KiB"))...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	if err := s.Reload(connectors(t, conf("1KiB")), testTable()); err != nil {
		t.Fatal(err)
	}
	d.cmd("MAIL FROM:<a@example.org> SIZE=5000", "552 5.3.4")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.cmd("DATA", "354")
	d.cmd("Subject: big\r\n\r\n"+strings.Repeat(strings.Repeat("x", 98)+"\r\n", 50)+".", "552 5.3.4")
	if q.count() != 0 {
		t.Errorf("%d messages queued over the reloaded limit", q.count())
	}
}

// SR-1, SMTP-8 (rt28b F1, sibling): a server account a reload removed
// opens no shadow session on the connection it authenticated on before
// the reload (XSHADOW 550 5.7.1), and the EHLO there offers no XSHADOW;
// its shadow session open at the reload ends at its next verb (421).
func TestSR1RevokedServerAccountOpensNoShadowSession(t *testing.T) {
	addr := freeAddr(t)
	creds := credsFile(t)
	conf := fmt.Sprintf(`
  - name: transport
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], servers: [submit, relay, accept-xshadow]}
`, addr, creds)
	sh := &fakeShadow{notes: map[string][]string{}}
	s := startShadowServer(t, &fakeQueue{}, sh, true, connectors(t, conf))
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	open := dial(t, s, "") // a shadow session open at the revocation
	open.expect("220")
	open.cmd("EHLO hub2.test", "250")
	open.cmd(authHub2, "235")
	open.cmd("XSHADOW hub2", "250")
	b, _ := os.ReadFile(creds)
	lines := strings.Split(string(b), "\n")
	os.WriteFile(creds, []byte(strings.Join(lines[:2], "\n")+"\n"), 0o600) // hub2 removed
	if err := s.Reload(connectors(t, conf), testTable()); err != nil {
		t.Fatal(err)
	}
	if r := d.cmd("EHLO hub2.test", "250"); offersKeyword(r, "XSHADOW") {
		t.Errorf("the EHLO of a revoked server account offers XSHADOW: %v", r)
	}
	d.cmd("XSHADOW hub2", "550 5.7.1")
	open.cmd("XQUERYDISCARD 10", "421 4.7.0 Shadow session ended: the account of this shadow session was revoked")
}

// SMTP-2, OPS-1 (rt28b F1, sibling): a reload that lowers a connector's
// max_recipients holds the sessions already open to it: a recipient past
// the new limit is 452 4.5.3, as on a new connection.
func TestSMTP2ReloadLowersRecipientLimitOfOpenSessions(t *testing.T) {
	addr := freeAddr(t)
	conf := func(n int) string {
		return fmt.Sprintf(`
  - name: default
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    permissions: {anonymous: [submit]}
    limits: {max_recipients: %d}
`, addr, n)
	}
	s := startServer(t, &fakeQueue{}, connectors(t, conf(10))...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	if err := s.Reload(connectors(t, conf(2)), testTable()); err != nil {
		t.Fatal(err)
	}
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<a@example.test>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.cmd("RCPT TO:<c@example.test>", "452 4.5.3")
}
