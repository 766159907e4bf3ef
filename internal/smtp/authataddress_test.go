package smtp

import (
	"fmt"
	"golang.org/x/crypto/bcrypt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"umbra/internal/config"
	"umbra/internal/orgid"
	"umbra/internal/routing"
)

// SMTP-8: a session whose address a reload gave another connector that
// authenticates nobody (no AUTH) keeps no authenticated right there
// (refreshRights), and no authentication either (dropAuthOffAddress):
// its message is no user's submission (not Internal, so not DKIM-signed
// as the organisation's) and its trace field says ESMTP, as for a new
// connection from its address. Its MAIL is taken (sub's anonymous
// submit); the drop is told once, in words, in the refusal of the relay
// (530 5.7.0 in place of the 550); the anonymous RCPT is taken.
func TestSMTP8AuthDroppedWhereConnectorAtAddressAuthenticatesNobody(t *testing.T) {
	addr := freeAddr(t)
	creds := credsFile(t)
	sub := fmt.Sprintf(`
  - name: sub
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    permissions: {anonymous: [submit]}
`, addr)
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, narrowConf(addr, `"127.0.0.0/16"`, creds, sub))...)
	d := dial(t, s, "127.0.0.173")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "235") // \0alice\0secret
	if err := s.Reload(connectors(t, narrowConf(addr, `"127.0.0.175/32"`, creds, sub)), testTable()); err != nil {
		t.Fatal(err)
	}
	d.cmd("MAIL FROM:<alice@example.test>", "250")                                                                                                                  // the rights left take it: the login's end is not told here
	d.cmd("RCPT TO:<victim@remote.test>", "530 5.7.0 Authentication required: the receive connector that takes this connection's address now (sub) offers no AUTH") // refused anyway: told here, once // authenticated relay taken: holds
	d.cmd("RCPT TO:<bob@example.test>", "250")                                                                                                                      // sub's anonymous submit
	d.cmd("DATA", "354")
	d.cmd("Subject: x\r\n\r\nhello\r\n.", "250")
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.msgs) != 1 {
		t.Fatalf("queued %d", len(q.msgs))
	}
	if q.msgs[0].Internal {
		t.Errorf("message marked Internal (a user's submission, DKIM-signed as the organisation's) from a session whose address the connector in force (sub, no AUTH) takes")
	}
	if b := string(q.bodies[0]); strings.Contains(b[:strings.Index(b, "\r\n\r\n")], "ESMTPA") {
		t.Errorf("trace field says the client authenticated, where the connector for its address authenticates nobody:\n%s", b[:strings.Index(b, "\r\n\r\n")])
	}
}

// SMTP-8: a transport server by its server account whose address a
// reload gave another connector (no AUTH) while its body came is a
// transport server no more at the end of the body (serverNow:
// atOwnConnector), nor authenticated: the header firewall does not
// believe its X-Umbra-Org-Id, and its message is not Internal by the
// origin header it sent.
func TestSMTP8ServerNarrowedDuringBodyLosesOrgID(t *testing.T) {
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
	q := &fakeQueue{}
	s := startShadowServer(t, q, &fakeShadow{notes: map[string][]string{}}, true, conf(`"127.0.0.0/16"`))
	s.SetServers(topo)
	d := dial(t, s, "127.0.0.178")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	d.cmd("MAIL FROM:<a@example.test>", "250")
	d.cmd("RCPT TO:<bob@example.test>", "250")
	d.cmd("DATA", "354")
	id := orgid.New()
	d.send("X-Umbra-Org-Id: " + id + "\r\nX-Umbra-Origin: internal\r\nSubject: x\r\n\r\n")
	if err := s.Reload(conf(`"127.0.0.175/32"`), testTable()); err != nil {
		t.Fatal(err)
	}
	d.cmd("hello\r\n.", "250")
	q.mu.Lock()
	m := q.msgs[0]
	q.mu.Unlock()
	if m.OrgID == id || m.Internal {
		t.Errorf("OrgID %q (sent %q), Internal %v: the header firewall believed a session the configuration in force no longer makes a transport server", m.OrgID, id, m.Internal)
	}
	// Its next command: no transport server (serverNow), its login's
	// end told once, in the refusal of the relay it no longer has.
	d.cmd("MAIL FROM:<a@example.test>", "250")                                                                                                                       // the rights left take it: the login's end is not told here
	d.cmd("RCPT TO:<x@remote.example>", "530 5.7.0 Authentication required: the receive connector that takes this connection's address now (public) offers no AUTH") // refused anyway: told here, once
}

// SMTP-8: AUTH is judged by address too: a session whose address no
// connector in force takes any more (a new connection from it is
// refused 554) is offered no AUTH at EHLO and its AUTH is refused 454
// before any password is checked — no oracle against the credentials
// of a connector that no longer serves it.
func TestSMTP8AuthRefusedWhereNoConnectorTakesAddress(t *testing.T) {
	addr := freeAddr(t)
	creds := credsFile(t)
	s := startServer(t, &fakeQueue{}, connectors(t, narrowConf(addr, `"127.0.0.0/16"`, creds, ""))...)
	d := dial(t, s, "127.0.0.173")
	d.expect("220")
	d.cmd("EHLO c", "250")
	if err := s.Reload(connectors(t, narrowConf(addr, `"127.0.0.175/32"`, creds, "")), testTable()); err != nil {
		t.Fatal(err)
	}
	n := dial(t, s, "127.0.0.173")
	n.expect("554") // a new connection from the address: refused
	if r := d.cmd("EHLO c", "250"); strings.Contains(r, "AUTH") {
		t.Errorf("EHLO offers AUTH where no connector takes the address:\n%s", r)
	}
	d.cmd("AUTH PLAIN AGFsaWNlAHdyb25n", "454")     // \0alice\0wrong: not judged
	d.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "454") // \0alice\0secret
}

// SMTP-8: a session whose address a reload gave another connector with
// AUTH is judged by that connector's mechanisms and credentials, not
// by those of its own: the account of its own connector's file is
// refused (535), the other's account authenticates and keeps its
// authentication at the next MAIL (judged by the connector that took
// the AUTH, authBy) with that connector's authenticated rights.
func TestSMTP8AuthJudgedByConnectorAtAddress(t *testing.T) {
	addr := freeAddr(t)
	creds := credsFile(t)
	h, _ := bcrypt.GenerateFromPassword([]byte("carolpw"), bcrypt.MinCost)
	other := filepath.Join(t.TempDir(), "creds")
	if err := os.WriteFile(other, []byte("carol:"+string(h)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sub := fmt.Sprintf(`
  - name: sub
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit, relay]}
`, addr, other)
	s := startServer(t, &fakeQueue{}, connectors(t, narrowConf(addr, `"127.0.0.0/16"`, creds, sub))...)
	d := dial(t, s, "127.0.0.174")
	d.expect("220")
	d.cmd("EHLO c", "250")
	if err := s.Reload(connectors(t, narrowConf(addr, `"127.0.0.175/32"`, creds, sub)), testTable()); err != nil {
		t.Fatal(err)
	}
	d.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "535") // \0alice\0secret: plain's account, not sub's
	d.cmd("AUTH PLAIN AGNhcm9sAGNhcm9scHc=", "235") // \0carol\0carolpw
	d.cmd("MAIL FROM:<carol@example.test>", "250")
	d.cmd("RCPT TO:<x@remote.test>", "250") // sub's authenticated relay
}

// SMTP-8: the message of an account a reload removed while its body
// came is judged at the end of the body, not when DATA was taken: no
// user's submission (not Internal, so not DKIM-signed as the
// organisation's), ESMTP in its trace field; the session's next MAIL is
// told 530.
func TestSMTP8RevokedDuringBodyNotAuthenticated(t *testing.T) {
	addr := freeAddr(t)
	creds := credsFile(t)
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, plainAuthConnector(addr, creds))...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO client.test", "250")
	d.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "235") // \0alice\0secret
	d.cmd("MAIL FROM:<alice@example.test>", "250")
	d.cmd("RCPT TO:<bob@example.test>", "250")
	d.cmd("DATA", "354")
	d.send("Subject: x\r\n\r\n")
	reloadWithoutAlice(t, s, addr)
	d.cmd("hello\r\n.", "250")
	q.mu.Lock()
	m, body := q.msgs[0], string(q.bodies[0])
	q.mu.Unlock()
	head := body[:strings.Index(body, "\r\n\r\n")]
	if m.Internal || strings.Contains(head, "ESMTPA") {
		t.Errorf("Internal %v, trace field:\n%s\nthe message of an account revoked during its body is judged as authenticated", m.Internal, head)
	}
	d.cmd("MAIL FROM:<a@sender.test>", "250")      // the rights left take it: not told here
	d.cmd("RCPT TO:<x@outside.test>", "530 5.7.0") // refused anyway: the login's end told here
}

// SMTP-8: with a check that adds recipients (checkedRcpts drops the
// authentication too), the trace field of a message whose account a
// reload removed during its body is written again: ESMTP, not ESMTPA.
func TestSMTP8RevokedDuringBodyTraceFieldWithDataCheck(t *testing.T) {
	addr := freeAddr(t)
	creds := credsFile(t)
	s, q := addingServer(t, plainAuthConnector(addr, creds), []string{"victim@outside.test"})
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO client.test", "250")
	d.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "235")
	d.cmd("MAIL FROM:<a@sender.test>", "250")
	d.cmd("RCPT TO:<bob@example.test>", "250")
	d.cmd("DATA", "354")
	d.send("Subject: x\r\n\r\n")
	reloadWithoutAlice(t, s, addr)
	d.cmd("hello\r\n.", "250")
	q.mu.Lock()
	m, body := q.msgs[0], string(q.bodies[0])
	q.mu.Unlock()
	head := body[:strings.Index(body, "\r\n\r\n")]
	if m.Internal || strings.Contains(head, "ESMTPA") {
		t.Errorf("Internal %v, trace field:\n%s", m.Internal, head)
	}
}

// SMTP-8: a session authenticated on its own connector whose address a
// reload gave another connector with other credentials loses its
// authentication silently at its next MAIL (the relay of its account is
// gone), and may AUTH again on the same connection (go-smtp's completed
// AUTH notwithstanding: authAgain), judged by that connector's
// credentials, whose account then holds.
func TestSMTP8AuthAgainAtConnectorAtAddress(t *testing.T) {
	addr := freeAddr(t)
	creds := credsFile(t)
	h, _ := bcrypt.GenerateFromPassword([]byte("carolpw"), bcrypt.MinCost)
	other := filepath.Join(t.TempDir(), "creds")
	if err := os.WriteFile(other, []byte("carol:"+string(h)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sub := fmt.Sprintf(`
  - name: sub
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit, relay]}
`, addr, other)
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, narrowConf(addr, `"127.0.0.0/16"`, creds, sub))...)
	d := dial(t, s, "127.0.0.176")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "235") // \0alice\0secret
	if err := s.Reload(connectors(t, narrowConf(addr, `"127.0.0.175/32"`, creds, sub)), testTable()); err != nil {
		t.Fatal(err)
	}
	d.cmd("MAIL FROM:<alice@example.test>", "250")                                                                                                                        // the rights left take it: the login's end is not told here
	d.cmd("RCPT TO:<x@remote.test>", "530 5.7.0 Authentication required: the receive connector that takes this connection's address now (sub) does not have the account") // refused anyway: told here, once
	d.cmd("RSET", "250")
	d.cmd("AUTH PLAIN AGNhcm9sAGNhcm9scHc=", "235") // \0carol\0carolpw
	d.cmd("MAIL FROM:<carol@example.test>", "250")
	d.cmd("RCPT TO:<x@remote.test>", "250")
	d.cmd("DATA", "354")
	d.cmd("Subject: x\r\n\r\nhello\r\n.", "250")
	q.mu.Lock()
	defer q.mu.Unlock()
	if b := string(q.bodies[0]); !strings.Contains(b[:strings.Index(b, "\r\n\r\n")], "ESMTPA") {
		t.Errorf("carol's message has no ESMTPA:\n%s", b[:strings.Index(b, "\r\n\r\n")])
	}
}

// plainAuthConnector is one receive connector, plain, at addr: PLAIN
// without TLS by the credentials file creds, anonymous submit,
// authenticated submit and relay.
func plainAuthConnector(addr, creds string) string {
	return fmt.Sprintf(`
  - name: plain
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit, relay]}
`, addr, creds)
}

// reloadWithoutAlice reloads s with plainAuthConnector at addr by
// credentials that hold a server account only: alice's account
// (credsFile) removed.
func reloadWithoutAlice(t *testing.T, s *Server, addr string) {
	t.Helper()
	h, _ := bcrypt.GenerateFromPassword([]byte("hubpass"), bcrypt.MinCost)
	without := filepath.Join(t.TempDir(), "creds")
	if err := os.WriteFile(without, []byte("hub2:"+string(h)+":server\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(connectors(t, plainAuthConnector(addr, without)), testTable()); err != nil {
		t.Fatal(err)
	}
}
