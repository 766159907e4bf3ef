package smtp

import (
	"fmt"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/config"
	"umbra/internal/routing"
)

// narrowConf is one connector at addr with the given ranges, AUTH from
// creds and anonymous and authenticated relay; extra is more connectors
// (YAML list items) on the same binding.
func narrowConf(addr, ranges, creds, extra string) string {
	return fmt.Sprintf(`
  - name: plain
    bindings: [%q]
    remote_ranges: [%s]
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit, relay], authenticated: [submit, relay]}
`, addr, ranges, creds) + extra
}

// SMTP-3 (rt31b F1): a reload that narrows a connector's remote_ranges
// leaves the sessions open from outside the new ranges no right a new
// connection from their address would not get — the rights the old
// configuration granted too (relay, submit), not only those the reload
// added (TestSMTP3ReloadGivesNoRelayOutsideNewRanges): anonymous
// [submit, relay] on 127.0.0.0/8 narrowed to one address. A session that
// greeted before the reload, the transaction open at it and a session
// authenticated before it relay no more; one from inside the new ranges
// still does.
func TestSMTP3ReloadNarrowedRangesTakeRightsKept(t *testing.T) {
	addr := freeAddr(t)
	creds := credsFile(t)
	s := startServer(t, &fakeQueue{}, connectors(t, narrowConf(addr, `"127.0.0.0/8"`, creds, ""))...)
	open := func(from string) *dialog {
		d := dial(t, s, from)
		d.expect("220")
		d.cmd("EHLO c", "250")
		return d
	}
	greeted := open("127.0.0.170")
	inTxn := open("127.0.0.171")
	inTxn.cmd("MAIL FROM:<a@ext.test>", "250")
	inTxn.cmd("RCPT TO:<before@remote.test>", "250")
	authed := open("127.0.0.172")
	authed.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "235") // \0alice\0secret
	inside := open("127.0.0.175")
	if err := s.Reload(connectors(t, narrowConf(addr, `"127.0.0.175/32"`, creds, "")), testTable()); err != nil {
		t.Fatal(err)
	}
	n := dial(t, s, "127.0.0.170")
	n.expect("554 5.7.1") // a new connection from there gets no connector
	t.Run("greeted before the reload", func(t *testing.T) {
		greeted.t = t
		greeted.cmd("MAIL FROM:<a@ext.test>", "530 5.7.1")
		greeted.cmd("RCPT TO:<victim@remote.test>", "503")
	})
	t.Run("transaction open at the reload", func(t *testing.T) {
		inTxn.t = t
		inTxn.cmd("RCPT TO:<victim@remote.test>", "550 5.7.1 Relay access denied")
	})
	t.Run("authenticated before the reload", func(t *testing.T) {
		authed.t = t
		authed.cmd("MAIL FROM:<a@ext.test>", "530 5.7.0 Authentication required: no receive connector takes this connection's address now")
		authed.cmd("MAIL FROM:<a@ext.test>", "530 5.7.1")
		authed.cmd("RCPT TO:<victim@remote.test>", "503")
	})
	t.Run("inside the new ranges", func(t *testing.T) {
		inside.t = t
		inside.cmd("MAIL FROM:<a@ext.test>", "250")
		inside.cmd("RCPT TO:<ok@remote.test>", "250")
	})
}

// SMTP-3 (rt31b F1, sibling): narrowed so that another connector of the
// binding takes the session's address now, the session keeps only what
// that connector grants too: no relay where it grants submit alone.
func TestSMTP3ReloadNarrowedToOtherConnectorKeepsItsRightsOnly(t *testing.T) {
	addr := freeAddr(t)
	creds := credsFile(t)
	public := fmt.Sprintf(`
  - name: public
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    permissions: {anonymous: [submit]}
`, addr)
	s := startServer(t, &fakeQueue{}, connectors(t, narrowConf(addr, `"127.0.0.0/16"`, creds, public))...)
	d := dial(t, s, "127.0.0.173")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@ext.test>", "250")
	d.cmd("RCPT TO:<before@remote.test>", "250")
	if err := s.Reload(connectors(t, narrowConf(addr, `"127.0.0.175/32"`, creds, public)), testTable()); err != nil {
		t.Fatal(err)
	}
	d.cmd("RCPT TO:<victim@remote.test>", "550 5.7.1 Relay access denied")
	d.cmd("RCPT TO:<alice@example.test>", "250") // submit: public grants it
	d.cmd("RSET", "250")
	d.cmd("MAIL FROM:<a@ext.test>", "250")
	d.cmd("RCPT TO:<victim@remote.test>", "550 5.7.1 Relay access denied")
}

// SMTP-3 (rt31b F1, sibling): a transport server by its connector's
// trust (externally_secured) whose address a reload took out of the
// connector's ranges is a transport server no more: a new connection
// from there gets no connector at all.
func TestSMTP3ReloadNarrowedRangesTakeServersTrust(t *testing.T) {
	addr := freeAddr(t)
	conf := func(ranges string) string {
		return fmt.Sprintf(`
  - name: transport
    bindings: [%q]
    remote_ranges: [%s]
    externally_secured: true
    permissions: {servers: [submit, relay]}
`, addr, ranges)
	}
	s := startServer(t, &fakeQueue{}, connectors(t, conf(`"127.0.0.0/8"`))...)
	d := dial(t, s, "127.0.0.174")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@ext.test>", "250")
	d.cmd("RCPT TO:<before@remote.test>", "250")
	if err := s.Reload(connectors(t, conf(`"127.0.0.175/32"`)), testTable()); err != nil {
		t.Fatal(err)
	}
	d.cmd("RCPT TO:<victim@remote.test>", "550 5.7.1 Relay access denied")
	d.cmd("RSET", "250")
	d.cmd("MAIL FROM:<a@ext.test>", "530 5.7.1")
}

// SMTP-3 (rt31b R1): a session whose connector a reload renamed or
// removed keeps no right a connector in force would not give a new
// connection from its address on its binding: renamed with relay taken
// away, the session relays no more (its transaction open at the reload
// neither); removed with no other connector for its address, it has no
// right left at all.
func TestSMTP3ReloadRenamedOrRemovedConnectorTakesRelay(t *testing.T) {
	addr := freeAddr(t)
	creds := credsFile(t)
	renamed := fmt.Sprintf(`
  - name: plainX
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    permissions: {anonymous: [submit]}
`, addr)
	other := freeAddr(t)
	elsewhere := fmt.Sprintf(`
  - name: elsewhere
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    permissions: {anonymous: [submit, relay]}
`, other)
	t.Run("renamed", func(t *testing.T) {
		s := startServer(t, &fakeQueue{}, connectors(t, narrowConf(addr, `"127.0.0.0/8"`, creds, ""))...)
		d := dial(t, s, "127.0.0.176")
		d.expect("220")
		d.cmd("EHLO c", "250")
		d.cmd("MAIL FROM:<a@ext.test>", "250")
		d.cmd("RCPT TO:<before@remote.test>", "250")
		if err := s.Reload(connectors(t, renamed), testTable()); err != nil {
			t.Fatal(err)
		}
		d.cmd("RCPT TO:<victim@remote.test>", "550 5.7.1 Relay access denied")
		d.cmd("RCPT TO:<alice@example.test>", "250")
		d.cmd("RSET", "250")
		d.cmd("MAIL FROM:<a@ext.test>", "250")
		d.cmd("RCPT TO:<victim@remote.test>", "550 5.7.1 Relay access denied")
	})
	t.Run("removed", func(t *testing.T) {
		s := startServer(t, &fakeQueue{}, connectors(t, narrowConf(addr, `"127.0.0.0/8"`, creds, elsewhere))...)
		d := dial(t, s, "127.0.0.177")
		d.expect("220")
		d.cmd("EHLO c", "250")
		d.cmd("MAIL FROM:<a@ext.test>", "250")
		if err := s.Reload(connectors(t, elsewhere), testTable()); err != nil {
			t.Fatal(err)
		}
		// elsewhere grants relay, but not on this connection's binding.
		d.cmd("RCPT TO:<victim@remote.test>", "550 5.7.1 Relay access denied")
		d.cmd("RSET", "250")
		d.cmd("MAIL FROM:<a@ext.test>", "530 5.7.1")
	})
}

// SMTP-3, SMTP-8 (rt31b F2): a recipient a check adds at the end of
// data is judged by the rights the session has then, an authentication
// a reload revoked during the body included: the account removed from
// the credentials file, its outside recipient is not relayed by the
// authenticated relay right it no longer has.
func TestSMTP8AddedRecipientAfterReloadRevokedAuth(t *testing.T) {
	addr := freeAddr(t)
	creds := credsFile(t)
	s, q := addingServer(t, plainAuthConnector(addr, creds), []string{"victim@outside.test"})
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO client.test", "250")
	d.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "235") // \0alice\0secret
	d.cmd("MAIL FROM:<a@sender.test>", "250")
	d.cmd("RCPT TO:<bob@example.test>", "250")
	d.cmd("DATA", "354")
	d.send("Subject: x\r\n\r\n")
	reloadWithoutAlice(t, s, addr)
	d.cmd("hello\r\n.", "250")
	if got := fmt.Sprint(queuedRcpts(t, q)); got != "[bob@example.test]" {
		t.Errorf("queued for %s; want bob only: alice's authentication was revoked before the check added victim@outside.test", got)
	}
	// The session's first command the rights left refuse is told of
	// the revocation, once; one they take is not.
	d.cmd("MAIL FROM:<a@sender.test>", "250")
	d.cmd("RCPT TO:<victim@outside.test>", "530 5.7.0")
	d.cmd("RCPT TO:<victim@outside.test>", "550 5.7.1")
}

// SMTP-3, SR-1 (rt31b F1, sibling): a transport server by its server
// account whose address a reload gave another connector (the ranges of
// its own narrowed) is a transport server no more: its next RCPT gets
// no servers' relay, and its shadow session ends at its next MAIL (421:
// the peer's next connection is judged by the configuration in force).
func TestSMTP3ReloadNarrowedRangesEndServerStanding(t *testing.T) {
	addr := freeAddr(t)
	creds := credsFile(t)
	conf := func(ranges string) []config.ReceiveConnector {
		return connectors(t, fmt.Sprintf(`
  - name: transport
    bindings: [%q]
    remote_ranges: [%s]
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit], servers: [submit, relay, accept-xshadow]}
  - name: public
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    permissions: {anonymous: [submit]}
`, addr, ranges, creds, addr))
	}
	hub2 := routing.Server{Name: "hub2", Role: routing.RoleHub, Site: "s1", Address: "hub2.example.test:25"}
	topo, _ := routing.NewTopology(routing.TopologyInput{Sites: []routing.Site{{Name: "s1"}}, Servers: []routing.Server{hub2}})
	s := startShadowServer(t, &fakeQueue{}, &fakeShadow{notes: map[string][]string{}}, true, conf(`"127.0.0.0/16"`))
	s.SetServers(topo)
	open := func(from string) *dialog {
		d := dial(t, s, from)
		d.expect("220")
		d.cmd("EHLO hub2.test", "250")
		d.cmd(authHub2, "235")
		d.cmd("MAIL FROM:<a@example.test>", "250")
		d.cmd("RCPT TO:<x@remote.example>", "250")
		d.cmd("RSET", "250")
		return d
	}
	plain := open("127.0.0.178")
	shadow := open("127.0.0.179")
	shadow.cmd("XSHADOW hub2", "250")
	if err := s.Reload(conf(`"127.0.0.175/32"`), testTable()); err != nil {
		t.Fatal(err)
	}
	t.Run("server account", func(t *testing.T) {
		plain.t = t
		plain.cmd("MAIL FROM:<a@example.test>", "250") // public's anonymous submit: the login's end is not told here
		plain.cmd("RCPT TO:<x@remote.example>", "530 5.7.0 Authentication required: the receive connector that takes this connection's address now (public) offers no AUTH")
		plain.cmd("RCPT TO:<x@remote.example>", "550 5.7.1") // told once
	})
	t.Run("shadow session", func(t *testing.T) {
		shadow.t = t
		shadow.cmd("MAIL FROM:<a@example.test>", "421 4.7.0")
	})
}

// SMTP-3 (rt31b F1, R1, sibling): the checks that judge a session whose
// connector no longer takes its address are those of the connector that
// does (its rate limits and their exempt ranges among them), not those
// of the connector it began on: narrowed away from plain, whose checks
// let everything through, to public, whose check refuses MAIL (as its
// rate limits would), the session is refused.
func TestSMTP3ReloadNarrowedRangesFollowChecksOfConnectorAtAddress(t *testing.T) {
	addr := freeAddr(t)
	creds := credsFile(t)
	public := fmt.Sprintf(`
  - name: public
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    permissions: {anonymous: [submit]}
`, addr)
	refusing := &scripted{mail: Verdict{Reply: &gosmtp.SMTPError{Code: 450, EnhancedCode: gosmtp.EnhancedCode{4, 7, 1}, Message: "Rate limit reached"}}}
	s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: connectors(t, narrowConf(addr, `"127.0.0.0/16"`, creds, public)),
		Routing: testTable(), Queue: &fakeQueue{},
		Checks: func(rc config.ReceiveConnector) ([]Check, error) {
			if rc.Name == "plain" {
				return nil, nil
			}
			return []Check{refusing}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	s.Serve()
	t.Cleanup(func() {
		ctx, cancel := contextWithTimeout(5 * time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	d := dial(t, s, "127.0.0.173")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@ext.test>", "250")
	d.cmd("RSET", "250")
	if err := s.Reload(connectors(t, narrowConf(addr, `"127.0.0.175/32"`, creds, public)), testTable()); err != nil {
		t.Fatal(err)
	}
	d.cmd("MAIL FROM:<a@ext.test>", "450 4.7.1 Rate limit reached")
}

// SMTP-3 (rt31b F1, sibling): narrowed so that another connector takes
// the session's address, an authenticated session keeps the
// authenticated rights that connector grants where it would
// authenticate the same account (same credentials): relay there; where
// it offers no AUTH, its anonymous rights only.
func TestSMTP3ReloadNarrowedKeepsAuthenticatedRightsWhereAccountHolds(t *testing.T) {
	addr := freeAddr(t)
	creds := credsFile(t)
	other := func(auth, perms string) string {
		return fmt.Sprintf(`
  - name: sub
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
%s    permissions: {%s}
`, addr, auth, perms)
	}
	withAuth := other(fmt.Sprintf("    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}\n", creds), "anonymous: [submit], authenticated: [submit, relay]")
	for _, tc := range []struct {
		name, other, want string
	}{
		{"same credentials", withAuth, "250"},
		{"no AUTH", other("", "anonymous: [submit]"), "550 5.7.1 Relay access denied"}, // the login's end told first
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, &fakeQueue{}, connectors(t, narrowConf(addr, `"127.0.0.0/16"`, creds, tc.other))...)
			d := dial(t, s, "127.0.0.173")
			d.expect("220")
			d.cmd("EHLO c", "250")
			d.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "235") // \0alice\0secret
			anon := dial(t, s, "127.0.0.174")
			anon.expect("220")
			anon.cmd("EHLO c", "250")
			if err := s.Reload(connectors(t, narrowConf(addr, `"127.0.0.175/32"`, creds, tc.other)), testTable()); err != nil {
				t.Fatal(err)
			}
			d.cmd("MAIL FROM:<a@ext.test>", "250")
			want := tc.want
			if tc.name == "no AUTH" { // the login's end told in the refusal of the RCPT the rights left refuse
				want = "530 5.7.0 Authentication required: the receive connector that takes this connection's address now (sub) offers no AUTH"
			}
			d.cmd("RCPT TO:<victim@remote.test>", want)
			anon.cmd("MAIL FROM:<a@ext.test>", "250")
			anon.cmd("RCPT TO:<victim@remote.test>", "550 5.7.1 Relay access denied")
		})
	}
}
