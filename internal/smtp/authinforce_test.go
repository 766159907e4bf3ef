package smtp

import (
	"bufio"
	"context"
	"strconv"
	"sync"
	"sync/atomic"

	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"
	"umbra/internal/config"

	"umbra/internal/clock"
	"umbra/internal/routing"
)

// SMTP-8: a connection opened on a connector without TLS that
// offered AUTH in clear (allow_insecure: true); a reload gives the
// connector a certificate and takes allow_insecure away ("credentials
// only over TLS now"). The README: an AUTH on a session opened before
// the reload is checked against allow_insecure of the connector as
// reloaded. The old connection cannot STARTTLS (the layer has no TLS
// config), so any AUTH on it sends the password in clear: it must be
// refused — the first AUTH (go-smtp's) and the layer's own authAgain
// after a revocation alike.
func TestSMTP8AuthInClearAfterReloadTookAllowInsecure(t *testing.T) {
	addr := freeAddr(t)
	creds := credsFile(t)
	cert, key, _ := testCert(t)
	before := fmt.Sprintf(`
  - name: sub
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit, relay]}
`, addr, creds)
	after := fmt.Sprintf(`
  - name: sub
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    tls: {cert_file: %q, key_file: %q}
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: false}
    permissions: {anonymous: [submit], authenticated: [submit, relay]}
`, addr, cert, key, creds)
	s := startShadowServer(t, &fakeQueue{}, &fakeShadow{notes: map[string][]string{}}, true, connectors(t, before))

	// An AUTH revoked by the reload, then AUTH again (authAgain).
	a := dial(t, s, "")
	a.expect("220")
	a.cmd("EHLO c", "250")
	a.cmd(authAlice, "235")
	// A connection that has not authenticated yet (go-smtp's AUTH).
	b := dial(t, s, "")
	b.expect("220")
	b.cmd("EHLO c", "250")

	setPassword(t, creds, "alice", "newsecret")
	if err := s.Reload(connectors(t, after), testTable()); err != nil {
		t.Fatal(err)
	}
	// A new connection gets no AUTH before STARTTLS.
	n := dial(t, s, "")
	n.expect("220")
	n.cmd("EHLO c", "250")
	n.cmd(plainAuth("alice", "newsecret"), "538 5.7.11")

	if ehlo := b.cmd("EHLO c", "250"); strings.Contains(ehlo, "AUTH") {
		t.Errorf("the old connection without TLS is offered AUTH in clear after the reload:\n%s", ehlo)
	}
	b.send(plainAuth("alice", "newsecret") + "\r\n") // go-smtp's AUTH: the password would cross in clear
	if got := b.reply(); got[0] == '2' {
		t.Errorf("first AUTH in clear after the reload took allow_insecure: %q", got)
	}
	a.cmd("MAIL FROM:<alice@example.test>", "250")   // the rights left take it: not told here
	a.cmd("RCPT TO:<x@remote.example>", "530 5.7.0") // refused anyway: the login's end told here
	a.cmd("RSET", "250")
	a.send(plainAuth("alice", "newsecret") + "\r\n") // authAgain: the same
	if got := a.reply(); got[0] == '2' {
		t.Errorf("authAgain in clear after the reload took allow_insecure: %q", got)
	}
}

// standingSource is a directory of one account whose verdict never
// changes: name "hub9", a transport server account of the directory
// (server_account_filter matches it), always found.
type standingSource struct{ asked atomic.Int32 }

func (f *standingSource) Authenticate(ctx context.Context, name, password string) (string, bool, bool, error) {
	return name, name == "hub9" && password == "pw", name == "hub9", nil
}
func (f *standingSource) HasServer() bool { return true }
func (f *standingSource) Account(ctx context.Context, name, user string) (bool, bool, error) {
	f.asked.Add(1)
	return user == "hub9", user == "hub9", nil
}

// SMTP-8: a server account of the directory that the topology
// does not give a transport server (a stale entry) authenticates
// without the servers' rights — the session's authDirServer is then
// false, while the directory's verdict says server: true, as it did at
// AUTH. Nothing changed in the directory, yet a minute later the
// session's account is revoked (530 5.7.0) at its next MAIL, and again
// a minute after every new AUTH.
func TestSMTP8DirectoryServerAccountOutsideTopologyNotRevoked(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC))
	src := &standingSource{}
	s := startWith(t, ServerConfig{Clock: clk, Accounts: src, Connectors: connectors(t, `
  - name: submission
    bindings: ["127.0.0.1:0"]
    auth: {mechanisms: [PLAIN], ldap: true, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit, relay]}
ldap: {url: "ldap://127.0.0.200", base_dn: "dc=x", account_filter: "(uid=%s)"}
`)})
	hub1 := routing.Server{Name: "hub1", Role: routing.RoleHub, Site: "s1", Address: "hub1.example.test:25"}
	top, _ := routing.NewTopology(routing.TopologyInput{Sites: []routing.Site{{Name: "s1"}}, Servers: []routing.Server{hub1}})
	s.SetServers(top)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd(plainAuth("hub9", "pw"), "235")
	d.cmd("MAIL FROM:<a@example.test>", "250")
	d.cmd("RCPT TO:<x@remote.example>", "250") // the authenticated users' relay
	d.cmd("RSET", "250")
	clk.Advance(2 * time.Minute)
	d.cmd("MAIL FROM:<a@example.test>", "250") // the directory's verdict is the one of its AUTH
	if src.asked.Load() == 0 {
		t.Fatal("the directory was not asked again")
	}
}

// OPS-1: sessions working while reloads change their connector's
// limits, checks and accounts (run with -race).
func TestOPS1ReloadWhileSessionsWork(t *testing.T) {
	addr := freeAddr(t)
	creds := credsFile(t)
	counter := &sessionCounter{}
	conf := func(i int) []config.ReceiveConnector {
		return connectors(t, fmt.Sprintf(`
  - name: sub
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    banner: b%d
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit, relay]}
    limits: {max_junk_commands: %d, max_errors: %d, idle_timeout: %ds, max_recipients: %d, max_message_size: %d}
`, addr, i%2, creds, 1000+i, 1000+i, 30+i%5, 100-i%3, 100000-i))
	}
	s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: conf(0), Routing: testTable(), Queue: &fakeQueue{},
		Checks: func(rc config.ReceiveConnector) ([]Check, error) {
			if rc.Banner == "b1" {
				return []Check{counter}, nil
			}
			return nil, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	s.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	done := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			r := bufio.NewReader(c)
			read := func() string {
				var all string
				for {
					l, err := r.ReadString('\n')
					all += l
					if err != nil || len(l) < 4 || l[3] == ' ' {
						return all
					}
				}
			}
			read()
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				for _, cmd := range []string{"EHLO c" + strconv.Itoa(g), authAlice, "MAIL FROM:<a@example.test>", "RCPT TO:<x@remote.example>", "RSET", "NOOP", "FOO"} {
					fmt.Fprintf(c, "%s\r\n", cmd)
					if got := read(); got == "" {
						return
					}
				}
			}
		}()
	}
	for i := 1; i < 60; i++ {
		if i%7 == 0 {
			setPassword(t, creds, "alice", "secret")
		}
		if err := s.Reload(conf(i), testTable()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(done)
	wg.Wait()
}

// lockedBuf is a log sink for several goroutines.
type lockedBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// disablingSource: carol, whom the directory disables (no reload).
type disablingSource struct{ disabled atomic.Bool }

func (f *disablingSource) Authenticate(ctx context.Context, name, password string) (string, bool, bool, error) {
	return name, name == "carol" && password == "pw" && !f.disabled.Load(), false, nil
}
func (f *disablingSource) HasServer() bool { return false }
func (f *disablingSource) Account(ctx context.Context, name, user string) (bool, bool, error) {
	return user == "carol" && !f.disabled.Load(), false, nil
}

// SMTP-8: an account the directory disabled loses the session's
// authentication at its next MAIL after the minute — with no reload at
// all. The operator's WARN line must not say a reload revoked it.
func TestSMTP8DirectoryRevocationLogNamesNoReload(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC))
	src := &disablingSource{}
	var logs lockedBuf
	s := startWith(t, ServerConfig{Clock: clk, Accounts: src, Log: slog.New(slog.NewTextHandler(&logs, nil)), Connectors: connectors(t, `
  - name: submission
    bindings: ["127.0.0.1:0"]
    auth: {mechanisms: [PLAIN], ldap: true, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit, relay]}
ldap: {url: "ldap://127.0.0.200", base_dn: "dc=x", account_filter: "(uid=%s)"}
`)})
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd(plainAuth("carol", "pw"), "235")
	src.disabled.Store(true)
	clk.Advance(2 * time.Minute)
	d.cmd("MAIL FROM:<carol@example.test>", "250")    // the rights left take it: not told here
	d.cmd("RCPT TO:<x@outside.invalid>", "530 5.7.0") // refused anyway: the revocation told here
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "revoked") && strings.Contains(l, "by a reload") {
			t.Errorf("no reload took place, yet the log says so:\n%s", l)
		}
	}
}

// SMTP-2: a reload gives a connector without TLS a certificate and
// tls.required. A connection opened before cannot STARTTLS (it has no
// TLS config; its EHLO offers none): its MAIL is refused, but not with a
// reply that sends it to a STARTTLS this connection cannot do.
func TestSMTP2TLSRequiredAfterReloadOnConnectionWithoutTLS(t *testing.T) {
	addr := freeAddr(t)
	cert, key, _ := testCert(t)
	before := fmt.Sprintf(`
  - name: sub
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    permissions: {anonymous: [submit, relay]}
`, addr)
	after := fmt.Sprintf(`
  - name: sub
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    tls: {cert_file: %q, key_file: %q, required: true}
    permissions: {anonymous: [submit, relay]}
`, addr, cert, key)
	s := startShadowServer(t, &fakeQueue{}, &fakeShadow{notes: map[string][]string{}}, true, connectors(t, before))
	b := dial(t, s, "")
	b.expect("220")
	b.cmd("EHLO c", "250")
	if err := s.Reload(connectors(t, after), testTable()); err != nil {
		t.Fatal(err)
	}
	if ehlo := b.cmd("EHLO c", "250"); strings.Contains(ehlo, "STARTTLS") {
		t.Fatalf("the old connection without TLS is offered STARTTLS:\n%s", ehlo)
	}
	// 421 and closed, not a 5xx: a sending server would bounce mail a
	// new connection takes.
	got := b.cmd("MAIL FROM:<a@example.test>", "421 4.7.0")
	if strings.Contains(got, "Must issue a STARTTLS command first") || !strings.Contains(got, "connect again") {
		t.Errorf("MAIL on a connection that cannot STARTTLS, after a reload required TLS: %q", got)
	}
	n := dial(t, s, "")
	n.expect("220")
	n.cmd("EHLO c", "250")
	n.cmd("MAIL FROM:<a@example.test>", "530 5.7.0 Must issue a STARTTLS command first")
}
