package smtp

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"umbra/internal/clock"
	"umbra/internal/queue"
)

func offersXShadow(ehlo string) bool {
	return strings.Contains(ehlo, "250-XSHADOW")
}

// SR-1: XSHADOW is advertised only to sessions authenticated as (or, by
// SASL, still able to become) transport servers — per authentication
// method, as the README states.
func TestXShadowAdvertisementRule(t *testing.T) {
	sh := func() *fakeShadow { return &fakeShadow{notes: map[string][]string{}} }

	t.Run("SASL with server accounts: before AUTH, and after AUTH only to a server", func(t *testing.T) {
		s := startShadowServer(t, &fakeQueue{}, sh(), true, transportConnector(t, ""))
		d := dial(t, s, "")
		d.expect("220")
		if !offersXShadow(d.cmd("EHLO hub2.test", "250")) {
			t.Fatal("not offered before AUTH on a connector where a server account can log in")
		}
		d.cmd(authAlice, "235")
		if offersXShadow(d.cmd("EHLO hub2.test", "250")) {
			t.Fatal("offered after a user account logged in")
		}
		d.cmd("XSHADOW alice", "550 5.7.1")

		d = dial(t, s, "")
		d.expect("220")
		d.cmd("EHLO hub2.test", "250")
		d.cmd(authHub2, "235")
		d.cmd("XSHADOW hub2", "250 db-")
	})

	t.Run("SASL without server accounts: never", func(t *testing.T) {
		a, _ := bcrypt.GenerateFromPassword([]byte("secret"), bcrypt.MinCost)
		creds := filepath.Join(t.TempDir(), "creds")
		os.WriteFile(creds, []byte("alice:"+string(a)+"\n"), 0o600)
		s := startShadowServer(t, &fakeQueue{}, sh(), true, connectors(t, fmt.Sprintf(`
  - name: transport
    bindings: ["127.0.0.1:0"]
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit], servers: [submit, relay, accept-xshadow]}
`, creds)))
		d := dial(t, s, "")
		d.expect("220")
		if offersXShadow(d.cmd("EHLO c", "250")) {
			t.Fatal("offered where no session can become a transport server")
		}
	})

	t.Run("no way to authenticate: never", func(t *testing.T) {
		s := startShadowServer(t, &fakeQueue{}, sh(), true, withServerRights(connectors(t, `
  - name: plain
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
`), 0, "submit", "relay", "accept-xshadow"))
		d := dial(t, s, "")
		d.expect("220")
		if offersXShadow(d.cmd("EHLO c", "250")) {
			t.Fatal("offered to an anonymous session that cannot authenticate")
		}
		d.cmd("XSHADOW c", "550 5.7.1")
	})

	t.Run("externally secured: every EHLO", func(t *testing.T) {
		s := startShadowServer(t, &fakeQueue{}, sh(), true, transportConnector(t, "    externally_secured: true\n"))
		d := dial(t, s, "")
		d.expect("220")
		if !offersXShadow(d.cmd("EHLO c", "250")) {
			t.Fatal("not offered on an externally secured connector")
		}
	})

	t.Run("client certificate: only the EHLO after STARTTLS with a verified certificate", func(t *testing.T) {
		caPEM, leaf, _ := orgPKI(t)
		caFile := filepath.Join(t.TempDir(), "org-ca.pem")
		os.WriteFile(caFile, caPEM, 0o600)
		cert, key, serverPool := testCert(t)
		s := startShadowServer(t, &fakeQueue{}, sh(), true, connectors(t, fmt.Sprintf(`
  - name: transport
    bindings: ["127.0.0.1:0"]
    tls: {cert_file: %q, key_file: %q, client_ca_file: %q}
    permissions: {anonymous: [submit], servers: [submit, relay, accept-xshadow]}
`, cert, key, caFile)))
		session := func(clientCert *tls.Certificate) string {
			d := dial(t, s, "")
			d.expect("220")
			if offersXShadow(d.cmd("EHLO hub7.test", "250")) {
				t.Fatal("offered before STARTTLS")
			}
			d.cmd("STARTTLS", "220")
			cfg := &tls.Config{RootCAs: serverPool, ServerName: "mx.test"}
			if clientCert != nil {
				cfg.Certificates = []tls.Certificate{*clientCert}
			}
			tc := tls.Client(d.conn, cfg)
			if err := tc.Handshake(); err != nil {
				t.Fatal(err)
			}
			d.conn, d.r = tc, bufio.NewReader(tc)
			return d.cmd("EHLO hub7.test", "250")
		}
		c := leaf("hub7.test")
		if !offersXShadow(session(&c)) {
			t.Fatal("not offered after STARTTLS with an organisation certificate")
		}
		if offersXShadow(session(nil)) {
			t.Fatal("offered after STARTTLS without a client certificate")
		}
	})
}

// rt15 N1: where XSHADOW is offered, the EHLO also carries the digest of
// the transport database id (XSHADOWDB), so that a shadow server whose
// login this server refuses still sees a new database; never the id
// itself (an XSHADOW reply must carry that before discards or
// reconciliation answers count), and nothing to a session no server
// could log in on (shadow29: a transport server's session gets it
// whether XSHADOW is offered or not). The client reads it from the EHLO
// it got last.
func TestDatabaseDigestAdvertised(t *testing.T) {
	sh := &fakeShadow{notes: map[string][]string{}}
	s := startShadowServer(t, &fakeQueue{}, sh, true, transportConnector(t, ""))
	d := dial(t, s, "")
	d.expect("220")
	ehlo := d.cmd("EHLO hub2.test", "250")
	want := "250-XSHADOWDB " + queue.DatabaseDigest(sh.DatabaseID())
	if !strings.Contains(ehlo, want) || strings.Contains(ehlo, sh.DatabaseID()) {
		t.Fatalf("EHLO before AUTH:\n%s\nwant %q and not the id", ehlo, want)
	}
	d.cmd(authAlice, "235")
	if strings.Contains(d.cmd("EHLO hub2.test", "250"), "XSHADOWDB") {
		t.Fatal("digest offered after a user account logged in")
	}

	plain := startShadowServer(t, &fakeQueue{}, sh, true, withServerRights(connectors(t, `
  - name: plain
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
`), 0, "submit", "relay", "accept-xshadow"))
	d = dial(t, plain, "")
	d.expect("220")
	if strings.Contains(d.cmd("EHLO c", "250"), "XSHADOWDB") {
		t.Fatal("digest offered to a session no server could log in on")
	}

	nc, err := net.Dial("tcp", s.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(context.Background(), nc, ClientOptions{LocalName: "hub2.test", TLS: TLSNone, CommandTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.PeerDatabaseDigest(); got != queue.DatabaseDigest(sh.DatabaseID()) {
		t.Fatalf("client read digest %q", got)
	}
}

// The client side follows the rule: over SASL it sees XSHADOW in the
// EHLO before AUTH and opens the shadow session after AUTH; with a
// client certificate it sees it in the EHLO after STARTTLS; and it
// negotiates the verb version from the keyword.
func TestClientFollowsAdvertisementRule(t *testing.T) {
	caPEM, leaf, _ := orgPKI(t)
	caFile := filepath.Join(t.TempDir(), "org-ca.pem")
	os.WriteFile(caFile, caPEM, 0o600)
	cert, key, _ := testCert(t)
	s := startShadowServer(t, &fakeQueue{}, &fakeShadow{notes: map[string][]string{}}, true, connectors(t, fmt.Sprintf(`
  - name: transport
    bindings: ["127.0.0.1:0"]
    tls: {cert_file: %q, key_file: %q, client_ca_file: %q}
    permissions: {anonymous: [submit], servers: [submit, relay, accept-xshadow]}
`, cert, key, caFile)))
	c := leaf("hub7.test")
	nc, err := dialTCP(s)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := NewClient(contextBackground(), nc, ClientOptions{LocalName: "hub7.test", ServerName: "mx.test", TLS: TLSRequired,
		RootCAs: &tls.Config{Certificates: []tls.Certificate{c}}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.Shadow("hub7.test"); err != nil {
		t.Fatalf("shadow session with a client certificate: %v", err)
	}
	if cl.ShadowVersion != 1 {
		t.Fatalf("version %d against a server that cannot signal discards, want 1", cl.ShadowVersion)
	}
}

func dialTCP(s *Server) (net.Conn, error) { return net.Dial("tcp", s.Addrs()[0].String()) }

// signalShadow is a fakeShadow that can signal commits: version 2.
type signalShadow struct {
	fakeShadow
	sig discardSig
}

type discardSig struct {
	mu sync.Mutex
	ch map[string]chan struct{}
}

func (f *signalShadow) DiscardSignal(server string) <-chan struct{} {
	f.sig.mu.Lock()
	defer f.sig.mu.Unlock()
	if f.sig.ch[server] == nil {
		f.sig.ch[server] = make(chan struct{})
	}
	return f.sig.ch[server]
}

// commit adds a notification and wakes waiting sessions, as the queue
// does after its commit.
func (f *signalShadow) commit(server, id string) {
	f.mu.Lock()
	f.notes[server] = append(f.notes[server], id)
	f.mu.Unlock()
	f.sig.mu.Lock()
	ch := f.sig.ch[server]
	delete(f.sig.ch, server)
	f.sig.mu.Unlock()
	if ch != nil {
		close(ch)
	}
}

// signalServer starts a server on clk whose shadow (a signalShadow)
// wakes a session's long poll when a notification for its server
// commits, with the transport connector.
func signalServer(t *testing.T, clk *clock.Fake) (*Server, *signalShadow) {
	t.Helper()
	sh := &signalShadow{fakeShadow: fakeShadow{notes: map[string][]string{}}, sig: discardSig{ch: map[string]chan struct{}{}}}
	s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: transportConnector(t, ""), Routing: testTable(),
		Queue: &fakeQueue{}, Shadow: sh, ShadowEnabled: true, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	s.Serve()
	t.Cleanup(func() { ctx, cancel := contextWithTimeout(5 * time.Second); defer cancel(); s.Shutdown(ctx) })
	return s, sh
}

// watchClient opens the shadow session of hub2 at s (authenticated,
// XSHADOW version 2), as a shadow server's watch session does.
func watchClient(t *testing.T, s *Server) *Client {
	t.Helper()
	nc, err := dialTCP(s)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(contextBackground(), nc, ClientOptions{LocalName: "hub2.test", TLS: TLSNone})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Auth(saslPlain("hub2", "hubpass")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Shadow("hub2"); err != nil || c.ShadowVersion != 2 {
		t.Fatalf("Shadow: version %d, %v", c.ShadowVersion, err)
	}
	return c
}

// discardWait is the answer to one long poll.
type discardWait struct {
	ids []string
	err error
}

// waitDiscard sends a long poll (XQUERYDISCARD 10 WAIT=wait) on c and
// returns where its answer will come.
func waitDiscard(c *Client, wait time.Duration) chan discardWait {
	ch := make(chan discardWait, 1)
	go func() { ids, err := c.WaitDiscard(10, wait); ch <- discardWait{ids, err} }()
	return ch
}

// Shadow verbs version 2 (SR-15): XQUERYDISCARD WAIT= holds the reply
// until a notification for the session's server commits, or until the
// wait passed on the server's clock; a version-1 server refuses WAIT=.
func TestDiscardWaitPush(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	s, sh := signalServer(t, clk)
	c := watchClient(t, s)
	wait := func() chan discardWait { return waitDiscard(c, 5*time.Second) }
	// Pushed: the reply comes when the notification commits.
	got := wait()
	waitTimer(t, clk, 1)
	sh.commit("hub3", "other-server") // not this session's server: keeps waiting
	select {
	case r := <-got:
		t.Fatalf("answered for another server's notification: %+v", r)
	case <-time.After(100 * time.Millisecond):
	}
	sh.commit("hub2", "m-1")
	if r := <-got; r.err != nil || strings.Join(r.ids, ",") != "m-1" {
		t.Fatalf("pushed: %+v", r)
	}
	// Nothing commits: 0 notifications once WAIT= passed on the clock.
	got = wait()
	waitTimer(t, clk, 1)
	clk.Advance(5 * time.Second)
	if r := <-got; r.err != nil || len(r.ids) != 0 {
		t.Fatalf("after the wait: %+v", r)
	}
	if err := c.Noop(); err != nil {
		t.Fatalf("go-smtp lost its place after WAIT=: %v", err)
	}
}

// A version-1 server (no discard signal) refuses WAIT=, and an
// out-of-range wait is refused by any.
func TestDiscardWaitRefused(t *testing.T) {
	s := startShadowServer(t, &fakeQueue{}, &fakeShadow{notes: map[string][]string{}}, true, transportConnector(t, "    externally_secured: true\n"))
	d := dial(t, s, "")
	d.expect("220")
	if ehlo := d.cmd("EHLO c", "250"); !strings.Contains(ehlo, "250-XSHADOW\r") && !strings.Contains(ehlo, "250-XSHADOW\n") {
		t.Fatalf("a version-1 server must advertise a bare XSHADOW:\n%q", ehlo)
	}
	d.cmd("XSHADOW edge7", "250 db-")
	d.cmd("XQUERYDISCARD 5 WAIT=1", "501 5.5.4")
	d.cmd("XQUERYDISCARD 5 WAIT=61", "501 5.5.4")
	d.cmd("XQUERYDISCARD 5 NOWAIT", "501 5.5.4")
	d.cmd("XQUERYDISCARD 5", "250 2.0.0 0 discard notifications")
}

// A long poll is the last command before a client waits: XQUERYDISCARD
// WAIT= with more commands pipelined behind it is answered at once, so a
// burst of them cannot tie the connection for the sum of their waits.
// The last one, with nothing behind it, still waits on the clock.
func TestDiscardWaitPipelinedAnsweredAtOnce(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	s, _ := signalServer(t, clk)

	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2", "250")
	d.send(strings.Repeat("XQUERYDISCARD 1 WAIT=60\r\n", 20) + "NOOP\r\n")
	for i := 0; i < 20; i++ {
		if got := d.reply(); got != "250 2.0.0 0 discard notifications" {
			t.Fatalf("pipelined WAIT %d: %q", i, got)
		}
	}
	d.expect("250") // NOOP
	if clk.Pending() != 0 {
		t.Fatalf("%d waits left on the clock", clk.Pending())
	}
	// Alone, it waits.
	d.send("XQUERYDISCARD 1 WAIT=60\r\n")
	waitTimer(t, clk, 1)
	clk.Advance(60 * time.Second)
	d.expect("250 2.0.0 0")
}
