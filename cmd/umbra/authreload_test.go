package main

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// reloadDaemon rewrites what write changes, sends the daemon a SIGHUP
// and waits for one more "configuration reloaded" line than before.
func reloadDaemon(t *testing.T, d *daemon, write func()) {
	t.Helper()
	count := func() int {
		b, _ := os.ReadFile(d.log)
		return strings.Count(string(b), "msg=\"configuration reloaded\"")
	}
	before := count()
	write()
	d.hup()
	waitCond(t, "the reload", 30*time.Second, func() bool {
		b, _ := os.ReadFile(d.log)
		return count() > before || strings.Count(string(b), "reload failed") > 0
	})
	if b, _ := os.ReadFile(d.log); strings.Contains(string(b), "reload failed") {
		t.Fatalf("the reload failed:\n%s", b)
	}
}

func plainResponse(user, pw string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pw))
}

// authReloadHub writes a hub whose connector "in" (on listen) offers
// AUTH PLAIN and LOGIN in clear text from the credentials file creds,
// anonymous submit and authenticated relay, and relays through a smart
// host nobody answers at (mail stays queued). It returns the
// configuration's path and its text.
func authReloadHub(t *testing.T, dir, listen, creds string) (string, string) {
	t.Helper()
	return authReloadHubAt(t, dir, listen, creds, "127.0.0.182")
}

// authReloadHubAt is authReloadHub with its smart host on smartIP.
func authReloadHubAt(t *testing.T, dir, listen, creds, smartIP string) (string, string) {
	t.Helper()
	cfg := filepath.Join(dir, "hub.yaml")
	text := fmt.Sprintf(`server: {name: hub.authreload.test, data_dir: %s, metrics_listen: ""}
transport: {retry_schedule: [1h]}
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
mailbox: {maildir: maildir}
send_connectors:
  - {name: out, address_spaces: [{domain: "*", cost: 1}], smart_hosts: [%q], tls: none}
receive_connectors:
  - name: in
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    permissions: {anonymous: [submit], authenticated: [submit, relay]}
    auth: {mechanisms: [PLAIN, LOGIN], credentials_file: %s, allow_insecure: true}
    max_acknowledgement_delay: 0s
`, filepath.Join(dir, "data"), reserveAddr(t, smartIP), listen, creds)
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg, text
}

func hashOf(t *testing.T, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// SMTP-8, OPS-1 (rt28b F1): AUTH is judged against the credentials and
// mechanisms of the configuration in force at the moment of AUTH, not
// those of the moment the connection was opened; an authenticated
// session whose account a reload removed (alice) or gave another
// password (bob) goes on with its anonymous rights — its MAIL taken,
// the login's end told in the refusal of its first RCPT those rights
// refuse (530 5.7.0, told to authenticate again) —, a transaction already past DATA whose outside
// recipient was relayed by alice's account gets 451 4.7.1 at the end of
// its body (nothing relayed by an account the reload removed: rt32b F1),
// and an account the reload left alone (carol) goes on relaying.
func TestSMTP8ReloadJudgesAuthOfOpenSessions(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.181")
	creds := filepath.Join(dir, "credentials")
	carol := "carol:" + hashOf(t, "carol-pw") + "\n"
	os.WriteFile(creds, []byte("alice:"+hashOf(t, "alice-pw")+"\nbob:"+hashOf(t, "bob-pw")+"\n"+carol), 0o600)
	cfg, text := authReloadHub(t, dir, listen, creds)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()

	greeted := func() *rawSession {
		c := rawDial(t, listen)
		c.cmd("EHLO client.example", "250")
		return c
	}
	// Opened before the reload: not yet authenticated (plain, login),
	// authenticated (alice, bob, carol), and one inside DATA.
	plain, login := greeted(), greeted()
	authed := map[string]*rawSession{}
	for _, u := range []string{"alice", "bob", "carol"} {
		authed[u] = greeted()
		authed[u].cmd("AUTH PLAIN "+plainResponse(u, u+"-pw"), "235")
	}
	inData := greeted()
	inData.cmd("AUTH PLAIN "+plainResponse("alice", "alice-pw"), "235")
	inData.cmd("MAIL FROM:<alice@example.test>", "250")
	inData.cmd("RCPT TO:<x@outside.example>", "250")
	inData.cmd("DATA", "354")

	// alice removed, bob's password changed, LOGIN no longer offered.
	reloadDaemon(t, d, func() {
		os.WriteFile(creds, []byte("bob:"+hashOf(t, "bob-new")+"\n"+carol), 0o600)
		os.WriteFile(cfg, []byte(strings.Replace(text, "[PLAIN, LOGIN]", "[PLAIN]", 1)), 0o600)
	})
	time.Sleep(100 * time.Millisecond)

	if r := inData.cmd("Subject: begun before the reload\r\n\r\nx\r\n.", ""); !strings.HasPrefix(r[len(r)-1], "451 4.7.1") {
		t.Errorf("a transaction past DATA at the reload whose outside recipient lost alice's relay: %v (want 451 4.7.1, nothing queued: rt32b F1)", r)
	}
	if r := plain.cmd("AUTH PLAIN "+plainResponse("alice", "alice-pw"), ""); !strings.HasPrefix(r[len(r)-1], "535 5.7.8") {
		t.Errorf("alice, revoked by the reload, on a session opened before it: %v (want 535 5.7.8)", r)
	}
	if r := login.cmd("AUTH LOGIN", ""); !strings.HasPrefix(r[len(r)-1], "504 5.5.4") {
		t.Errorf("AUTH LOGIN, a mechanism the reload removed, on a session opened before it: %v (want 504 5.5.4)", r)
	}
	for _, u := range []string{"alice", "bob"} {
		authed[u].cmd("MAIL FROM:<"+u+"@example.test>", "250") // anonymous now: submit only, not told here
		r := authed[u].cmd("RCPT TO:<y@outside.example>", "")
		if !strings.HasPrefix(r[len(r)-1], "530 5.7.0") {
			t.Errorf("%s, authenticated before the reload revoked the account: RCPT to an outside domain got %v (want 530 5.7.0, the login's end told)", u, r)
			continue
		}
		if r := authed[u].cmd("RCPT TO:<y@outside.example>", ""); !strings.HasPrefix(r[len(r)-1], "550 5.7.1") {
			t.Errorf("%s relays after the revocation: %v", u, r)
		}
	}
	authed["carol"].cmd("MAIL FROM:<carol@example.test>", "250")
	authed["carol"].cmd("RCPT TO:<z@outside.example>", "250")
	if r := authPlain(t, listen, "bob", "bob-new"); !strings.HasPrefix(r, "235") {
		t.Errorf("bob's new password on a new connection: %q", r)
	}
}

// SMTP-8, OPS-1 (rt32c F3): a receive connector a SIGHUP renamed with its
// settings as they were still takes the address of the sessions opened
// on it and would authenticate their accounts with the same
// credentials: an authentication made before stands (MAIL taken, relay
// kept, AUTH again 503) and a session that had not authenticated may AUTH
// there; nothing is logged as revoked. A second SIGHUP that moves the
// connector to another binding leaves no connector at those sessions'
// address: AUTH is refused 454 saying so, and the authentication ends
// with that reason, never "the account was removed or its password
// changed".
func TestSMTP8ReloadRenamedConnectorKeepsAuthentication(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.148")
	creds := filepath.Join(dir, "credentials")
	os.WriteFile(creds, []byte("alice:"+hashOf(t, "alice-pw")+"\n"), 0o600)
	cfg, text := authReloadHubAt(t, dir, listen, creds, "127.0.0.147")
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()

	open := rawDial(t, listen)
	open.cmd("EHLO client.example", "250")
	authed := rawDial(t, listen)
	authed.cmd("EHLO client.example", "250")
	authed.cmd("AUTH PLAIN "+plainResponse("alice", "alice-pw"), "235")
	gone := rawDial(t, listen)
	gone.cmd("EHLO client.example", "250")
	gone.cmd("AUTH PLAIN "+plainResponse("alice", "alice-pw"), "235")

	renamed := strings.Replace(text, "name: in\n", "name: submission\n", 1)
	reloadDaemon(t, d, func() { os.WriteFile(cfg, []byte(renamed), 0o600) })
	authed.cmd("MAIL FROM:<alice@example.test>", "250")
	authed.cmd("RCPT TO:<z@outside.example>", "250")
	authed.cmd("RSET", "250")
	authed.cmd("AUTH PLAIN "+plainResponse("alice", "alice-pw"), "503")
	open.cmd("AUTH PLAIN "+plainResponse("alice", "alice-pw"), "235")
	open.cmd("MAIL FROM:<alice@example.test>", "250")
	open.cmd("RCPT TO:<z@outside.example>", "250")
	if b, _ := os.ReadFile(d.log); strings.Contains(string(b), "authentication revoked") || strings.Contains(string(b), "authentication ended") {
		t.Errorf("an authentication the renamed connector gives as before was ended:\n%s", b)
	}

	other := freeAddr(t, "127.0.0.149")
	reloadDaemon(t, d, func() {
		os.WriteFile(cfg, []byte(strings.Replace(renamed, fmt.Sprintf("%q", listen), fmt.Sprintf("%q", other), 1)), 0o600)
	})
	if r := gone.cmd("MAIL FROM:<alice@example.test>", ""); strings.Contains(r[len(r)-1], "password") {
		t.Errorf("MAIL after the connector left the binding: %v names a password change that did not happen", r)
	}
	if r := gone.cmd("AUTH PLAIN "+plainResponse("alice", "alice-pw"), ""); !strings.HasPrefix(r[len(r)-1], "454 4.7.0") || !strings.Contains(r[len(r)-1], "no receive connector takes") {
		t.Errorf("AUTH where no connector takes the address: %v (want 454 4.7.0 … no receive connector takes …)", r)
	}
	b, _ := os.ReadFile(d.log)
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "authentication ended") && !strings.Contains(l, "no receive connector takes the session's address") ||
			strings.Contains(l, "authentication revoked") {
			t.Errorf("the end of an authentication logged with another reason than what happened: %s", l)
		}
	}
	if r := authPlain(t, other, "alice", "alice-pw"); !strings.HasPrefix(r, "235") {
		t.Errorf("alice on a new connection to the connector's new binding: %q", r)
	}
}

// rawDialFrom is rawDial from the local address src.
func rawDialFrom(t *testing.T, src, addr string) *rawSession {
	t.Helper()
	dl := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := dl.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	t.Cleanup(func() { c.Close() })
	s := &rawSession{t: t, c: c, r: bufio.NewReader(c)}
	s.expect("220")
	return s
}

// SR-1, SR-3, OPS-1 (rt28b F1): a transport server a reload removed
// from the topology keeps no shadow verbs on a shadow session it opened
// before: its next shadow verb or MAIL ends the session (421 4.7.0, the
// connection closed), so that it collects no discard notifications of
// the organisation it left; a new connection authenticates it without
// the servers' rights. A server the reload kept (hub-y) goes on.
func TestSR1ServerRemovedFromTopologyLosesShadowSession(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.184")
	creds := filepath.Join(dir, "credentials")
	h := hashOf(t, "pw")
	os.WriteFile(creds, []byte("hub-x:"+h+":server\nhub-y:"+h+":server\n"), 0o600)
	topo := filepath.Join(dir, "topology.yaml")
	withX := fmt.Sprintf(`sites: [{name: s1, subnets: ["127.0.0.0/8"]}]
servers:
  - {name: hub1, role: hub, site: s1, address: %q}
  - {name: hub-x, role: hub, site: s1, address: "127.0.0.185:25"}
  - {name: hub-y, role: hub, site: s1, address: "127.0.0.186:25"}
`, listen)
	os.WriteFile(topo, []byte(withX), 0o600)
	cfg := filepath.Join(dir, "hub.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`server: {name: hub1, data_dir: %s, metrics_listen: ""}
topology: %s
transport: {retry_schedule: [1h]}
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
mailbox: {maildir: maildir}
receive_connectors:
  - name: org
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    auth: {mechanisms: [PLAIN], credentials_file: %s, allow_insecure: true}
    permissions: {anonymous: [submit], servers: [submit, relay, accept-xshadow]}
    max_acknowledgement_delay: 0s
`, filepath.Join(dir, "data"), topo, listen, creds)), 0o600)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()

	open := func(server, src string) *rawSession {
		s := rawDialFrom(t, src, listen)
		s.cmd("EHLO "+server, "250")
		s.cmd("AUTH PLAIN "+plain(server, "pw"), "235")
		s.cmd("XSHADOW "+server, "250 ")
		return s
	}
	x1, x2, y := open("hub-x", "127.0.0.185"), open("hub-x", "127.0.0.185"), open("hub-y", "127.0.0.186")

	reloadDaemon(t, d, func() {
		os.WriteFile(topo, []byte(strings.Replace(withX, "  - {name: hub-x, role: hub, site: s1, address: \"127.0.0.185:25\"}\n", "", 1)), 0o600)
	})
	if r := x1.cmd("XQUERYDISCARD 10", ""); !strings.HasPrefix(r[len(r)-1], "421 4.7.0") {
		t.Errorf("XQUERYDISCARD of a server the reload removed from the topology: %v (want 421 4.7.0)", r)
	}
	if r := x2.cmd("MAIL FROM:<a@example.test> XSHADOW=m1", ""); !strings.HasPrefix(r[len(r)-1], "421 4.7.0") {
		t.Errorf("MAIL XSHADOW= of a server the reload removed from the topology: %v (want 421 4.7.0)", r)
	}
	for _, s := range []*rawSession{x1, x2} {
		if l, err := s.r.ReadString('\n'); err == nil {
			t.Errorf("the connection stays open after the 421: read %q", l)
		}
	}
	y.cmd("XQUERYDISCARD 10", "250")
	n := rawDialFrom(t, "127.0.0.185", listen)
	n.cmd("EHLO hub-x", "250")
	n.cmd("AUTH PLAIN "+plain("hub-x", "pw"), "235")
	if r := n.cmd("XSHADOW hub-x", ""); !strings.HasPrefix(r[len(r)-1], "550 5.7.1") && !strings.HasPrefix(r[len(r)-1], "502") {
		t.Errorf("XSHADOW of a server removed from the topology, new connection: %v", r)
	}
}

// EDGE-1 (rate limits), OPS-1 (rt28b F1, sibling): a reload that lowers
// a connector's rate limits holds the sessions already open to it from
// their next MAIL, as it holds new ones (the counts survive the reload).
func TestReloadLowersRateLimitOfOpenSessions(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.187")
	creds := filepath.Join(dir, "credentials")
	os.WriteFile(creds, []byte("alice:"+hashOf(t, "alice-pw")+"\n"), 0o600)
	cfg, text := authReloadHub(t, dir, listen, creds)
	text = strings.Replace(text, "    max_acknowledgement_delay: 0s\n", "    max_acknowledgement_delay: 0s\n    rate_limits: {address: {messages: 100}}\n", 1)
	os.WriteFile(cfg, []byte(text), 0o600)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()

	c := rawDial(t, listen)
	c.cmd("EHLO client.example", "250")
	reloadDaemon(t, d, func() {
		os.WriteFile(cfg, []byte(strings.Replace(text, "messages: 100", "messages: 1", 1)), 0o600)
	})
	c.cmd("MAIL FROM:<a@example.test>", "250")
	c.cmd("RSET", "250")
	if r := c.cmd("MAIL FROM:<a@example.test>", ""); !strings.HasPrefix(r[len(r)-1], "450 4.7.1") {
		t.Errorf("the second MAIL of a session opened before the reload lowered the limit to 1: %v (want 450 4.7.1)", r)
	}
}
