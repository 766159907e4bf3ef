package smtp

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"umbra/internal/config"
	"umbra/internal/routing"
)

// lostConf is the rt32b rig's front door at addr: relayers (anonymous
// submit and relay, ranges given) and, where open is set, plain for
// every other address — auth.required by creds with authenticated
// rights auth, or anonymous submit when creds is "".
func lostConf(t *testing.T, addr, ranges, plain string) []config.ReceiveConnector {
	t.Helper()
	return connectors(t, fmt.Sprintf(`
  - name: relayers
    bindings: [%q]
    remote_ranges: [%s]
    permissions: {anonymous: [submit, relay]}
`, addr, ranges)+plain)
}

// plainAt is a connector "plain" at addr for 127.0.0.0/8: extra is its
// auth and permissions lines.
func plainAt(addr, extra string) string {
	return fmt.Sprintf(`
  - name: plain
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
%s`, addr, extra)
}

// SMTP-3, SMTP-8 (rt32b F1): a recipient accepted under a right a reload
// took away before the end of the body — the account removed, the
// relaying connector's ranges narrowed away from the address, the open
// connector removed — is not relayed by the transaction it was accepted
// in: its DATA or first BDAT chunk — the end of data, for a reload while
// the body came — is 451 4.7.1 naming one that lost its right
// (where no connector takes the address, the local one lost submit
// too), nothing is queued, and a
// new transaction (or connection) gets, recipient by recipient, what a
// new session gets. A transaction whose recipients all keep their right
// is taken.
func TestSMTP3RecipientsAcceptedBeforeReloadNotRelayedAfter(t *testing.T) {
	creds := credsFile(t)
	type reload func(t *testing.T, s *Server, addr string)
	narrow := func(t *testing.T, s *Server, addr string) {
		if err := s.Reload(lostConf(t, addr, `"127.0.0.149/32"`, ""), testTable()); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name   string
		conf   func(addr string) []config.ReceiveConnector
		auth   bool
		reload reload
		bdat   bool
		during bool // the reload while the body comes
	}{
		{name: "account removed", conf: func(addr string) []config.ReceiveConnector { return connectors(t, plainAuthConnector(addr, creds)) },
			auth: true, reload: func(t *testing.T, s *Server, addr string) { reloadWithoutAlice(t, s, addr) }},
		{name: "ranges narrowed", conf: func(addr string) []config.ReceiveConnector { return lostConf(t, addr, `"127.0.0.0/8"`, "") }, reload: narrow},
		{name: "ranges narrowed, BDAT", conf: func(addr string) []config.ReceiveConnector { return lostConf(t, addr, `"127.0.0.0/8"`, "") }, reload: narrow, bdat: true},
		{name: "ranges narrowed during the body", conf: func(addr string) []config.ReceiveConnector { return lostConf(t, addr, `"127.0.0.0/8"`, "") }, reload: narrow, during: true},
		{name: "open connector removed", conf: func(addr string) []config.ReceiveConnector {
			return lostConf(t, addr, `"127.0.0.0/8"`, plainAt(freeAddr(t), "    permissions: {anonymous: [submit, relay]}\n"))
		}, reload: func(t *testing.T, s *Server, addr string) {
			if err := s.Reload(connectors(t, plainAt(freeAddr(t), "    permissions: {anonymous: [submit, relay]}\n")), testTable()); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := freeAddr(t)
			q := &fakeQueue{}
			s := startServer(t, q, tc.conf(addr)...)
			d := dial(t, s, "127.0.0.141")
			d.expect("220")
			d.cmd("EHLO c", "250")
			if tc.auth {
				d.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "235") // \0alice\0secret
			}
			d.cmd("MAIL FROM:<alice@example.test>", "250")
			d.cmd("RCPT TO:<bob@example.test>", "250")
			d.cmd("RCPT TO:<victim@other.test>", "250")
			var got string
			switch {
			case tc.bdat:
				tc.reload(t, s, addr)
				got = d.cmd("BDAT 18 LAST\r\nSubject: x\r\n\r\nhi\r\n", "")
			case tc.during:
				d.cmd("DATA", "354")
				d.send("Subject: x\r\n\r\n")
				tc.reload(t, s, addr)
				got = d.cmd("hi\r\n.", "")
			default:
				// Judged at DATA already, before the body
				// (TestSMTP3RightsLostBeforeDataRefusedBeforeBody).
				tc.reload(t, s, addr)
				got = d.cmd("DATA", "")
			}
			if !strings.HasPrefix(got, "451 4.7.1 Recipient <") || !strings.Contains(got, "no longer permitted") {
				t.Errorf("end of data after a reload took the right victim@other.test was accepted under: %q, want 451 4.7.1 naming a recipient that lost its right", got)
			}
			q.mu.Lock()
			n := len(q.msgs)
			q.mu.Unlock()
			if n != 0 {
				t.Errorf("%d messages queued: a recipient was relayed by a right the configuration in force does not give", n)
			}
		})
	}
	t.Run("recipients that keep their right", func(t *testing.T) {
		addr := freeAddr(t)
		q := &fakeQueue{}
		sub := plainAt(addr, "    permissions: {anonymous: [submit]}\n")
		s := startServer(t, q, lostConf(t, addr, `"127.0.0.0/16"`, sub)...)
		d := dial(t, s, "127.0.0.142")
		d.expect("220")
		d.cmd("EHLO c", "250")
		d.cmd("MAIL FROM:<a@example.test>", "250")
		d.cmd("RCPT TO:<bob@example.test>", "250")
		if err := s.Reload(lostConf(t, addr, `"127.0.0.149/32"`, sub), testTable()); err != nil {
			t.Fatal(err)
		}
		d.cmd("DATA", "354")
		d.cmd("Subject: x\r\n\r\nhi\r\n.", "250")
	})
}

// SMTP-3 (rt32b F2): a session a reload left without the right to
// submit has a recipient of an accepted domain refused as its MAIL would
// be now — the reply a new connection from its address gets at MAIL
// (530 5.7.0 Authentication required where the connector now at its
// address requires AUTH, 530 5.7.1 Not permitted to submit where none
// takes the address) — never "Relay access denied", which it is not,
// and logged so.
func TestSMTP3LocalRecipientWithoutSubmitRightNotCalledRelay(t *testing.T) {
	creds := credsFile(t)
	for _, tc := range []struct{ name, plain, want string }{
		{"auth required at the address", "    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true, required: true}\n    permissions: {authenticated: [submit, relay]}\n",
			"530 5.7.0 Authentication required"},
		{"no connector at the address", "", "530 5.7.1 Not permitted to submit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := freeAddr(t)
			plain := ""
			if tc.plain != "" {
				plain = plainAt(addr, fmt.Sprintf(tc.plain, creds))
			}
			logs := &syncBuffer{}
			s := startWith(t, ServerConfig{Log: slog.New(slog.NewTextHandler(logs, nil)), Connectors: lostConf(t, addr, `"127.0.0.0/16"`, plain)})
			d := dial(t, s, "127.0.0.143")
			d.expect("220")
			d.cmd("EHLO c", "250")
			d.cmd("MAIL FROM:<x@outside.test>", "250")
			d.cmd("RCPT TO:<bob@example.test>", "250")
			if err := s.Reload(lostConf(t, addr, `"127.0.0.149/32"`, plain), testTable()); err != nil {
				t.Fatal(err)
			}
			d.cmd("RCPT TO:<alice@example.test>", tc.want)
			d.cmd("RSET", "250")
			d.cmd("MAIL FROM:<x@outside.test>", tc.want)
			if l := logs.lines("relay denied"); len(l) != 0 {
				t.Errorf("a local recipient logged as a relay denied: %q", l)
			}
		})
	}
}

// SMTP-2, SMTP-8 (rt32b F3): a session whose connector (anonymous
// submit and relay, no AUTH) a reload narrowed away from its address,
// now taken by a connector with auth.required and authenticated
// [submit], that authenticates there has that connector's authenticated
// rights, as a new connection from its address that authenticates as
// the same account: its MAIL and a local recipient are taken, relay
// (which that connector grants no one) is not.
func TestSMTP2AuthAtConnectorAtAddressGivesItsAuthenticatedRights(t *testing.T) {
	creds := credsFile(t)
	addr := freeAddr(t)
	plain := plainAt(addr, fmt.Sprintf("    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true, required: true}\n    permissions: {authenticated: [submit]}\n", creds))
	s := startServer(t, &fakeQueue{}, lostConf(t, addr, `"127.0.0.0/16"`, plain)...)
	d := dial(t, s, "127.0.0.144")
	d.expect("220")
	d.cmd("EHLO c", "250")
	if err := s.Reload(lostConf(t, addr, `"127.0.0.149/32"`, plain), testTable()); err != nil {
		t.Fatal(err)
	}
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<alice@example.test>", "530 5.7.0 Authentication required")
	d.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "235") // \0alice\0secret
	d.cmd("MAIL FROM:<alice@example.test>", "250")
	d.cmd("RCPT TO:<bob@example.test>", "250")
	d.cmd("RCPT TO:<x@other.test>", "550 5.7.1 Relay access denied")
}

// SMTP-8 (rt32c F3): a connector renamed by a reload with its settings
// as they were (binding, ranges, credentials) is the connector that
// takes the session's address now and would authenticate its account
// with the same credentials: the authentication stands — its MAIL is
// taken and its relay kept, a second AUTH is 503 —, and an open session
// that had not authenticated may AUTH there, as a new connection would.
// Renamed to one with other credentials, the authentication ends with
// the reason that is true (that connector would not authenticate it),
// never "the account was removed or its password changed".
func TestSMTP8RenamedConnectorKeepsAuthenticationItWouldGive(t *testing.T) {
	creds := credsFile(t)
	addr := freeAddr(t)
	conf := func(name, creds string) []config.ReceiveConnector {
		return connectors(t, fmt.Sprintf(`
  - name: %s
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit, relay]}
`, name, addr, creds))
	}
	t.Run("identical", func(t *testing.T) {
		logs := &syncBuffer{}
		s := startWith(t, ServerConfig{Log: slog.New(slog.NewTextHandler(logs, nil)), Connectors: conf("default", creds)})
		authed := dial(t, s, "127.0.0.145")
		authed.expect("220")
		authed.cmd("EHLO c", "250")
		authed.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "235")
		open := dial(t, s, "127.0.0.146")
		open.expect("220")
		open.cmd("EHLO c", "250")
		if err := s.Reload(conf("default2", creds), testTable()); err != nil {
			t.Fatal(err)
		}
		authed.cmd("MAIL FROM:<alice@example.test>", "250")
		authed.cmd("RCPT TO:<x@other.test>", "250")
		authed.cmd("RSET", "250")
		authed.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "503")
		open.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "235")
		open.cmd("MAIL FROM:<alice@example.test>", "250")
		open.cmd("RCPT TO:<x@other.test>", "250")
		for _, m := range []string{"authentication revoked", "authentication ended"} {
			if l := logs.lines(m); len(l) != 0 {
				t.Errorf("%q logged for an authentication the renamed connector gives as before: %q", m, l)
			}
		}
	})
	t.Run("other credentials", func(t *testing.T) {
		logs := &syncBuffer{}
		s := startWith(t, ServerConfig{Log: slog.New(slog.NewTextHandler(logs, nil)), Connectors: conf("default", creds)})
		authed := dial(t, s, "127.0.0.147")
		authed.expect("220")
		authed.cmd("EHLO c", "250")
		authed.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "235")
		h, _ := bcrypt.GenerateFromPassword([]byte("carolpw"), bcrypt.MinCost)
		carol := filepath.Join(t.TempDir(), "creds")
		if err := os.WriteFile(carol, []byte("carol:"+string(h)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := s.Reload(conf("default2", carol), testTable()); err != nil {
			t.Fatal(err)
		}
		r := authed.cmd("MAIL FROM:<alice@example.test>", "")
		if strings.Contains(r, "password") {
			t.Errorf("MAIL after the rename: %q names a password change that did not happen", r)
		}
		for _, l := range append(logs.lines("authentication revoked"), logs.lines("authentication ended")...) {
			if strings.Contains(l, "password") || strings.Contains(l, "removed") {
				t.Errorf("log line gives a reason that is not what happened (the connector was renamed to one with other credentials): %s", l)
			}
		}
		authed.cmd("RSET", "250")
		authed.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "535") // no alice in the renamed connector's file
	})
}

// SR-1, SMTP-2 (rt32b F3, sibling): the same for the servers' rights: a
// session whose connector (anonymous submit and relay, no AUTH, no
// servers' rights) a reload narrowed away from its address, now taken by
// a connector with auth.required that grants the servers' rights, that
// logs in there with a server account is a transport server with that
// connector's servers' rights, as a new connection logging in so is:
// XSHADOW opens its shadow session, and before the AUTH is refused as
// there (550 5.7.1), not as a verb the connector does not offer (502).
func TestSR1AuthAtConnectorAtAddressGivesItsServersRights(t *testing.T) {
	creds := credsFile(t)
	hub2 := routing.Server{Name: "hub2", Role: routing.RoleHub, Site: "s1", Address: "hub2.example.test:25"}
	topo, _ := routing.NewTopology(routing.TopologyInput{Sites: []routing.Site{{Name: "s1"}}, Servers: []routing.Server{hub2}})
	addr := freeAddr(t)
	plain := plainAt(addr, fmt.Sprintf("    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true, required: true}\n    permissions: {authenticated: [submit], servers: [submit, relay, accept-xshadow]}\n", creds))
	s := startShadowServer(t, &fakeQueue{}, &fakeShadow{notes: map[string][]string{}}, true, lostConf(t, addr, `"127.0.0.0/16"`, plain))
	s.SetServers(topo)
	d := dial(t, s, "127.0.0.146")
	d.expect("220")
	if err := s.Reload(lostConf(t, addr, `"127.0.0.149/32"`, plain), testTable()); err != nil {
		t.Fatal(err)
	}
	d.cmd("EHLO hub2.test", "250")
	d.cmd("XSHADOW hub2", "550 5.7.1") // as a new connection there before AUTH, not 502: the connector offers the verb
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2", "250")
	d.cmd("MAIL FROM:<a@example.test> XSHADOW=c1", "250")
	d.cmd("RCPT TO:<x@remote.test>", "250")
}
