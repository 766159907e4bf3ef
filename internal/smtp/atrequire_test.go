package smtp

import (
	"fmt"
	"strings"
	"testing"

	"umbra/internal/config"
	"umbra/internal/routing"
)

// atRequireConf is plain (ranges, a certificate, anonymous submit and
// relay) and, on the same binding, wide: 127.0.0.0/8 with the given tls
// and auth settings (YAML flow) and permissions. A reload that narrows
// plain's ranges away from a session's address gives the address to
// wide.
func atRequireConf(addr, ranges, cert, key, wideTLS, wideAuth, widePerms string) string {
	return fmt.Sprintf(`
  - name: plain
    bindings: [%q]
    remote_ranges: [%s]
    tls: {cert_file: %q, key_file: %q}
    permissions: {anonymous: [submit, relay]}
  - name: wide
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    tls: {cert_file: %q, key_file: %q%s}
    %s
    permissions: %s
`, addr, ranges, cert, key, addr, cert, key, wideTLS, wideAuth, widePerms)
}

// lastLine is the last line of a reply.
func lastLine(r string) string { return r[strings.LastIndex(r, "\n")+1:] }

// SMTP-2: a session whose address a reload gave a connector with
// auth.required gets, at its MAIL, the reply a new connection from its
// address gets there — 530 5.7.0 Authentication required, not the
// 530 5.7.1 of a connector that grants no submit — and, once it has
// authenticated an account that connector holds, that connector's
// authenticated rights (both grant them).
func TestSMTP2NarrowedMailAnsweredAsAuthRequiredConnectorAtAddress(t *testing.T) {
	addr := freeAddr(t)
	creds := credsFile(t)
	wide := fmt.Sprintf(`
  - name: wide
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true, required: true}
    permissions: {anonymous: [submit], authenticated: [submit, relay]}
`, addr, creds)
	s := startServer(t, &fakeQueue{}, connectors(t, narrowConf(addr, `"127.0.0.0/16"`, creds, wide))...)
	d := dial(t, s, "127.0.0.141")
	d.expect("220")
	d.cmd("EHLO c", "250")
	if err := s.Reload(connectors(t, narrowConf(addr, `"127.0.0.149/32"`, creds, wide)), testTable()); err != nil {
		t.Fatal(err)
	}
	fresh := dial(t, s, "127.0.0.142")
	fresh.expect("220")
	fresh.cmd("EHLO c", "250")
	want := lastLine(fresh.cmd("MAIL FROM:<a@example.test>", "530"))
	if got := lastLine(d.cmd("MAIL FROM:<a@example.test>", "530")); got != want {
		t.Errorf("narrowed session's MAIL: %q; a new connection from its address: %q", got, want)
	}
	d.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "235") // \0alice\0secret, judged by wide
	d.cmd("MAIL FROM:<alice@example.test>", "250")
	d.cmd("RCPT TO:<x@remote.test>", "250")
}

// SMTP-2, RFC 3207: a session whose address a reload gave a connector
// with tls.required gets, at its MAIL, the reply a new connection from
// its address gets there (530 5.7.0 Must issue a STARTTLS command
// first), and after STARTTLS the rights a new connection gets there
// after STARTTLS, as far as its own connector granted them too: relay.
func TestSMTP2NarrowedSessionRegainsRightsByStartTLS(t *testing.T) {
	addr := freeAddr(t)
	cert, key, pool := testCert(t)
	conf := func(ranges string) string {
		return atRequireConf(addr, ranges, cert, key, ", required: true", "", "{anonymous: [submit, relay]}")
	}
	s := startServer(t, &fakeQueue{}, connectors(t, conf(`"127.0.0.0/16"`))...)
	d := dial(t, s, "127.0.0.143")
	d.expect("220")
	d.cmd("EHLO c", "250")
	if err := s.Reload(connectors(t, conf(`"127.0.0.149/32"`)), testTable()); err != nil {
		t.Fatal(err)
	}
	fresh := dial(t, s, "127.0.0.144")
	fresh.expect("220")
	fresh.cmd("EHLO c", "250")
	want := lastLine(fresh.cmd("MAIL FROM:<a@example.test>", "530"))
	if got := lastLine(d.cmd("MAIL FROM:<a@example.test>", "530")); got != want {
		t.Errorf("narrowed session's MAIL before STARTTLS: %q; a new connection from its address: %q", got, want)
	}
	fresh.startTLS(pool)
	fresh.cmd("EHLO c", "250")
	fresh.cmd("MAIL FROM:<a@example.test>", "250")
	fresh.cmd("RCPT TO:<x@remote.test>", "250")
	d.startTLS(pool)
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.test>", "250")
	d.cmd("RCPT TO:<x@remote.test>", "250")
}

// SR-1, W-2: a session whose address a reload gave another connector is
// offered XSHADOW and answered at XSHADOW as a new connection from its
// address is there — the keyword where a server account can log in, 550
// 5.7.1 before it has, never 502 "not available" for a verb that
// connector offers — and a server account that connector authenticated
// on the session since the reload is a transport server as on a new
// connection: its shadow session opens and goes on. One authenticated
// before the reload by its own connector is none there (its shadow
// session would end, 421): it authenticates again, or connects again.
func TestSR1MovedSessionShadowAsConnectorAtAddress(t *testing.T) {
	creds := credsFile(t)
	hub2 := routing.Server{Name: "hub2", Role: routing.RoleHub, Site: "s1", Address: "hub2.example.test:25"}
	topo, _ := routing.NewTopology(routing.TopologyInput{Sites: []routing.Site{{Name: "s1"}}, Servers: []routing.Server{hub2}})
	addr := freeAddr(t)
	conf := func(ranges string) []config.ReceiveConnector {
		return connectors(t, fmt.Sprintf(`
  - name: plain
    bindings: [%q]
    remote_ranges: [%s]
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit, relay], servers: [submit, relay, accept-xshadow]}
  - name: wide
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit], servers: [submit, relay, accept-xshadow]}
`, addr, ranges, creds, addr, creds))
	}
	s := startShadowServer(t, &fakeQueue{}, &fakeShadow{notes: map[string][]string{}}, true, conf(`"127.0.0.0/16"`))
	s.SetServers(topo)
	d := dial(t, s, "127.0.0.145")
	d.expect("220")
	if err := s.Reload(conf(`"127.0.0.149/32"`), testTable()); err != nil {
		t.Fatal(err)
	}
	fresh := dial(t, s, "127.0.0.146")
	fresh.expect("220")
	for _, c := range []string{"EHLO hub2.test", "XSHADOW hub2"} {
		if got, want := d.cmd(c, ""), fresh.cmd(c, ""); got != want {
			t.Errorf("%s: moved session %q, a new connection from its address %q", c, got, want)
		}
	}
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2", "250")
	d.cmd("MAIL FROM:<a@example.test> XSHADOW=c1", "250")
	d.cmd("RCPT TO:<x@remote.test>", "250") // the servers' relay wide grants
}

// SMTP-2, RFC 3207 (sibling): the same for a session whose connector a
// reload renamed and gave tls.required: the connector of the new name
// takes its address; its MAIL is told to STARTTLS as a new connection's
// is, and after STARTTLS it relays as one does there.
func TestSMTP2RenamedConnectorTLSRequiredRegainedByStartTLS(t *testing.T) {
	addr := freeAddr(t)
	cert, key, pool := testCert(t)
	conf := func(name, required string) string {
		return fmt.Sprintf(`
  - name: %s
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    tls: {cert_file: %q, key_file: %q%s}
    permissions: {anonymous: [submit, relay]}
`, name, addr, cert, key, required)
	}
	s := startServer(t, &fakeQueue{}, connectors(t, conf("plain", ""))...)
	d := dial(t, s, "127.0.0.141")
	d.expect("220")
	d.cmd("EHLO c", "250")
	if err := s.Reload(connectors(t, conf("plain2", ", required: true")), testTable()); err != nil {
		t.Fatal(err)
	}
	d.cmd("MAIL FROM:<a@example.test>", "530 5.7.0 Must issue a STARTTLS command first")
	d.startTLS(pool)
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.test>", "250")
	d.cmd("RCPT TO:<x@remote.test>", "250")
}
