package ratelimit

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"umbra/internal/clock"
	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/routing"
	"umbra/internal/smtp"
)

var t0 = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func connector(t *testing.T, yaml string) config.ReceiveConnector {
	t.Helper()
	// rate_limits.user counts logged-in users only, and a connector
	// without AUTH refuses it (config): offered where a test limits
	// users and says nothing of AUTH.
	auth := ""
	if strings.Contains(yaml, "user:") && !strings.Contains(yaml, "auth:") {
		creds := filepath.Join(t.TempDir(), "creds")
		if err := os.WriteFile(creds, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		auth = "    auth: {mechanisms: [PLAIN], credentials_file: " + strconv.Quote(creds) + ", allow_insecure: true}\n"
	}
	c, err := config.Parse([]byte("server: {name: mx.test}\nreceive_connectors:\n  - name: internet\n    bindings: [\"127.0.0.1:0\"]\n    permissions: {anonymous: [submit]}\n"+
		auth+yaml), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return c.ReceiveConnectors[0]
}

func info(ip string) *smtp.ConnInfo {
	return &smtp.ConnInfo{Connector: "internet", IP: netip.MustParseAddr(ip)}
}

func refused(v smtp.Verdict) string {
	if v.Reply == nil {
		return ""
	}
	e := v.Reply.EnhancedCode
	return fmt.Sprintf("%d %d.%d.%d %s", v.Reply.Code, e[0], e[1], e[2], v.Reply.Message)
}

// The sliding window: a limit of 4 per minute lets 4 through, refuses
// the 5th; half a window later half the old events still count; two
// windows later none do.
func TestSlidingWindow(t *testing.T) {
	clk := clock.NewFake(t0)
	c := NewCounters(clk, nil)
	k, err := New(connector(t, "    rate_limits: {address: {messages: 4, window: 1m}}\n"), c)
	if err != nil || k == nil {
		t.Fatal(k, err)
	}
	ci := info("192.0.2.1")
	for i := 0; i < 4; i++ {
		if r := refused(k.Mail(context.Background(), ci, "a@x.test", nil)); r != "" {
			t.Fatalf("message %d refused: %s", i+1, r)
		}
	}
	r := refused(k.Mail(context.Background(), ci, "a@x.test", nil))
	if !strings.HasPrefix(r, "450 4.7.1") || !strings.Contains(r, "messages from your address") {
		t.Fatalf("5th message: %q, want 450 4.7.1", r)
	}
	// 1.5 windows after the first events: the previous window (4)
	// weighs half: 2 counted, 2 more allowed.
	clk.Advance(90 * time.Second)
	for i := 0; i < 2; i++ {
		if r := refused(k.Mail(context.Background(), ci, "a@x.test", nil)); r != "" {
			t.Fatalf("after 90s, message %d refused: %s", i+1, r)
		}
	}
	if r := refused(k.Mail(context.Background(), ci, "a@x.test", nil)); r == "" {
		t.Fatal("after 90s, a third message passed: the previous window was forgotten")
	}
	clk.Advance(2 * time.Minute)
	if r := refused(k.Mail(context.Background(), ci, "a@x.test", nil)); r != "" {
		t.Fatalf("two windows later: %s", r)
	}
}

// Scopes: one address's limit does not touch its neighbour; the /24
// (IPv4) and /64 (IPv6) network limit counts them together; users and
// sender domains are counted apart from addresses; a refusal counts
// nothing (all or none of the scopes take the event).
func TestScopes(t *testing.T) {
	clk := clock.NewFake(t0)
	reg := prometheus.NewRegistry()
	c := NewCounters(clk, reg)
	k, err := New(connector(t, `    rate_limits:
      address: {connections: 2, recipients: 100}
      network: {connections: 3}
      user: {messages: 2}
      sender_domain: {recipients: 3, window: 1h}
`), c)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		ip, want string
	}{
		{"192.0.2.1", ""}, {"192.0.2.1", ""}, {"192.0.2.1", "421 4.7.0"}, // the address's limit
		{"192.0.2.2", ""}, {"192.0.2.3", "421 4.7.0"}, // the /24 has had 3
		{"192.0.3.1", ""}, // another /24
		{"2001:db8:1:1::1", ""}, {"2001:db8:1:1::2", ""}, {"2001:db8:1:1:ffff::3", ""}, {"2001:db8:1:1::4", "421 4.7.0"},
		{"2001:db8:1:2::1", ""},           // another /64
		{"::ffff:192.0.2.4", "421 4.7.0"}, // an IPv4-mapped address is its IPv4 address
	} {
		if r := refused(k.Connect(ctx, info(tc.ip))); !strings.HasPrefix(r, tc.want) || (tc.want == "") != (r == "") {
			t.Fatalf("connect from %s: %q, want %q", tc.ip, r, tc.want)
		}
	}
	if got := testutil.ToFloat64(c.refused.WithLabelValues("internet", "network", "connections")); got != 3 {
		t.Fatalf("network refusals = %v, want 3", got)
	}
	if got := testutil.ToFloat64(c.refused.WithLabelValues("internet", "address", "connections")); got != 1 {
		t.Fatalf("address refusals = %v, want 1", got)
	}

	alice := &smtp.ConnInfo{Connector: "internet", IP: netip.MustParseAddr("198.51.100.1"), User: "Alice"}
	alice2 := &smtp.ConnInfo{Connector: "internet", IP: netip.MustParseAddr("203.0.113.9"), User: "alice"}
	if refused(k.Mail(ctx, alice, "a@x.test", nil)) != "" || refused(k.Mail(ctx, alice2, "a@x.test", nil)) != "" {
		t.Fatal("alice's first two messages refused")
	}
	if r := refused(k.Mail(ctx, alice, "a@x.test", nil)); !strings.Contains(r, "from your account") {
		t.Fatalf("alice's third message (any address, any case): %q", r)
	}
	// Sender domain: 3 recipients an hour, whoever sends.
	for i, ip := range []string{"198.51.100.7", "198.51.100.8", "203.0.113.7"} {
		if r := refused(k.Rcpt(ctx, info(ip), "x@Sender.test", "r@example.test")); r != "" {
			t.Fatalf("recipient %d: %s", i, r)
		}
	}
	if r := refused(k.Rcpt(ctx, info("198.51.100.9"), "y@sender.test", "r@example.test")); !strings.Contains(r, "sender domain") {
		t.Fatalf("4th recipient of sender.test: %q", r)
	}
	if r := refused(k.Rcpt(ctx, info("198.51.100.9"), "", "r@example.test")); r != "" {
		t.Fatalf("null sender counted against a domain: %q", r)
	}
	// The refused RCPT above took nothing from 198.51.100.9's address
	// count: its 100 recipients are all left.
	for i := 0; i < 99; i++ {
		if r := refused(k.Rcpt(ctx, info("198.51.100.9"), "", "r@example.test")); r != "" {
			t.Fatalf("recipient %d of 198.51.100.9: %s", i+2, r)
		}
	}
	if r := refused(k.Rcpt(ctx, info("198.51.100.9"), "", "r@example.test")); r == "" {
		t.Fatal("101st recipient of one address passed")
	}
}

// Exempt ranges and transport servers are never limited.
func TestExempt(t *testing.T) {
	c := NewCounters(clock.NewFake(t0), nil)
	k, err := New(connector(t, "    rate_limits: {exempt: [10.0.0.0/8], address: {connections: 1}}\n"), c)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		if r := refused(k.Connect(ctx, info("10.1.2.3"))); r != "" {
			t.Fatalf("exempt range limited: %s", r)
		}
		if r := refused(k.Connect(ctx, &smtp.ConnInfo{IP: netip.MustParseAddr("192.0.2.50"), Server: true})); r != "" {
			t.Fatalf("transport server limited: %s", r)
		}
	}
	if n := c.Len(); n != 0 {
		t.Fatalf("%d counters for exempt sessions", n)
	}
	if k, _ := New(connector(t, ""), c); k != nil {
		t.Fatal("a connector without limits got a check")
	}
}

// A reload builds new checks over the same counters: nothing starts
// again, and the new limits apply to the old counts.
func TestCountersSurviveReload(t *testing.T) {
	clk := clock.NewFake(t0)
	c := NewCounters(clk, nil)
	before, _ := New(connector(t, "    rate_limits: {address: {messages: 3}}\n"), c)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		before.Mail(ctx, info("192.0.2.1"), "a@x.test", nil)
	}
	after, _ := New(connector(t, "    rate_limits: {address: {messages: 4}}\n"), c)
	if r := refused(after.Mail(ctx, info("192.0.2.1"), "a@x.test", nil)); r != "" {
		t.Fatalf("4th message under the new limit of 4: %s", r)
	}
	if r := refused(after.Mail(ctx, info("192.0.2.1"), "a@x.test", nil)); r == "" {
		t.Fatal("the reload reset the counter: a 5th message passed a limit of 4")
	}
}

// The number of counters is bounded: a flood of new addresses drops the
// least recently used, never grows the map past maxKeys.
func TestCountersBounded(t *testing.T) {
	clk := clock.NewFake(t0)
	c := NewCounters(clk, nil)
	k, _ := New(connector(t, "    rate_limits: {address: {connections: 5, window: 1h}}\n"), c)
	ctx := context.Background()
	for i := 0; i < maxKeys+5000; i++ {
		ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		k.Connect(ctx, &smtp.ConnInfo{IP: ip})
	}
	if n := c.Len(); n > maxKeys {
		t.Fatalf("%d counters, bound %d", n, maxKeys)
	}
	// Idle counters go after two windows.
	clk.Advance(3 * time.Hour)
	k.Connect(ctx, info("192.0.2.1"))
	for i := 0; i < 1100; i++ {
		k.Connect(ctx, info("192.0.2.2"))
	}
	if n := c.Len(); n != 2 {
		t.Fatalf("%d counters after the sweep, want 2", n)
	}
}

// limitedServer starts a server for example.test with the receive
// connectors conns, whose one check is each connector's rate limiter on
// the counters c; accounts verifies AUTH, and setup, if not nil, runs
// before the server listens. It returns the server's address.
func limitedServer(t *testing.T, c *Counters, conns []config.ReceiveConnector, accounts smtp.AccountSource, setup func(*smtp.Server)) string {
	t.Helper()
	srv, err := smtp.NewServer(smtp.ServerConfig{Hostname: "mx.test", Connectors: conns, Queue: noQueue{t}, Accounts: accounts,
		Routing: routing.NewTable([]routing.AcceptedDomain{{Domain: "example.test", Type: routing.Authoritative}}, nil),
		Checks: func(rc config.ReceiveConnector) ([]smtp.Check, error) {
			k, err := New(rc, c)
			if err != nil || k == nil {
				return nil, err
			}
			return []smtp.Check{k}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(srv)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	srv.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return srv.Addrs()[0].String()
}

// Over real SMTP: the third connection from one address gets 421 4.7.0
// (at its EHLO, where the session starts) and is closed; a MAIL past the
// message limit gets 450 4.7.1; a RCPT past the recipient limit gets 450
// 4.7.1 while the transaction's earlier recipients stay accepted.
func TestOverSMTP(t *testing.T) {
	clk := clock.NewFake(t0)
	c := NewCounters(clk, nil)
	conns := []config.ReceiveConnector{connector(t, `    rate_limits:
      address: {connections: 2, messages: 2, recipients: 3}
`)}
	addr := limitedServer(t, c, conns, nil, nil)

	a := dial(t, addr, "127.0.0.61")
	a.cmd("EHLO a.test", "250")
	a.cmd("MAIL FROM:<s@x.test>", "250")
	a.cmd("RCPT TO:<r1@example.test>", "250")
	a.cmd("RCPT TO:<r2@example.test>", "250")
	a.cmd("RCPT TO:<r3@example.test>", "250")
	a.cmd("RCPT TO:<r4@example.test>", "450 4.7.1")
	a.cmd("RSET", "250")
	a.cmd("MAIL FROM:<s@x.test>", "250")
	a.cmd("RSET", "250")
	a.cmd("MAIL FROM:<s@x.test>", "450 4.7.1")

	b := dial(t, addr, "127.0.0.61")
	b.cmd("EHLO b.test", "250")
	c3 := dial(t, addr, "127.0.0.61")
	c3.cmd("EHLO c.test", "421 4.7.0")
	if _, err := c3.r.ReadString('\n'); err == nil {
		t.Fatal("the connection stayed open after 421")
	}
	// Another address is not affected.
	d := dial(t, addr, "127.0.0.62")
	d.cmd("EHLO d.test", "250")
	d.cmd("MAIL FROM:<s@x.test>", "250")
	// A window later the address may connect again.
	clk.Advance(2 * time.Minute)
	e := dial(t, addr, "127.0.0.61")
	e.cmd("EHLO e.test", "250")
}

type noQueue struct{ t *testing.T }

func (q noQueue) NewID() queue.ID { return 1 }
func (q noQueue) Submit(context.Context, *queue.Message, []byte) error {
	q.t.Error("no message is sent in this test")
	return errors.New("no queue")
}
func (q noQueue) WaitGone(queue.ID) (<-chan struct{}, func()) { return nil, func() {} }

type client struct {
	t *testing.T
	r *bufio.Reader
	c net.Conn
}

func dial(t *testing.T, addr, from string) *client {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	t.Cleanup(func() { c.Close() })
	cl := &client{t: t, r: bufio.NewReader(c), c: c}
	cl.read("220")
	return cl
}

func (c *client) read(want string) string {
	c.t.Helper()
	for {
		l, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("reading a reply (want %s): %v", want, err)
		}
		if len(l) < 4 || l[3] != '-' {
			if !strings.HasPrefix(l, want) {
				c.t.Fatalf("reply %q, want %s", strings.TrimSpace(l), want)
			}
			return l
		}
	}
}

func (c *client) cmd(line, want string) string {
	c.t.Helper()
	if _, err := c.c.Write([]byte(line + "\r\n")); err != nil {
		c.t.Fatal(err)
	}
	return c.read(want)
}

// One sender domain is one counter however it is written: a trailing
// dot, another case, or its Unicode (U-label) form instead of the
// A-label. One user likewise with extra spaces or another case.
func TestKeysAreCanonical(t *testing.T) {
	c := NewCounters(clock.NewFake(t0), nil)
	k, err := New(connector(t, `    rate_limits:
      user: {messages: 2}
      sender_domain: {messages: 2}
`), c)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, group := range [][]string{
		{"a@victim.org", "a@victim.org.", "a@VICTIM.ORG."},
		{"a@bücher.example", "a@xn--bcher-kva.example", "a@BÜCHER.example."},
	} {
		for i, from := range group {
			want := i == 2
			ci := &smtp.ConnInfo{Connector: "internet", IP: netip.AddrFrom4([4]byte{198, 51, 100, byte(i + 1)})}
			if r := refused(k.Mail(ctx, ci, from, nil)); (r != "") != want {
				t.Fatalf("MAIL FROM:<%s> = %q, want refused %v", from, r, want)
			}
		}
	}
	for i, user := range []string{"carol", "carol  ", " CAROL"} {
		ci := &smtp.ConnInfo{Connector: "internet", IP: netip.AddrFrom4([4]byte{203, 0, 113, byte(i + 1)}), User: user}
		if r := refused(k.Mail(ctx, ci, "", nil)); (r != "") != (i == 2) {
			t.Fatalf("message %d of %q: %q", i+1, user, r)
		}
	}
	for in, want := range map[string]string{"a@B\u00dcCHER.example.": "xn--bcher-kva.example", "a@[192.0.2.1]": "[192.0.2.1]", "": "", "a@.": "",
		// a character IDNA 2008 disallows that only stands for ASCII
		// (KELVIN SIGN) is not the ASCII domain it imitates: one key
		// function for every map (mailaddr.DomainKey)
		"a@\u212Aiosk.test": "\u212aiosk.test", "a@XN--BCHER-KVA.example": "xn--bcher-kva.example"} {
		if got := domainOf(in); got != want {
			t.Errorf("domainOf(%q) = %q, want %q", in, got, want)
		}
	}
}

// looseAccounts matches names as an LDAP directory with the filter
// (|(uid=%s)(mail=%s)) does: case and extra spaces ignored, the uid or
// the mail address; the identity returned is the stored uid.
type looseAccounts struct{}

func (looseAccounts) Authenticate(_ context.Context, name, password string) (string, bool, bool, error) {
	switch strings.ToLower(strings.Join(strings.Fields(name), " ")) {
	case "carol", "carol@example.test":
		return "carol", password == "carol-pw", false, nil
	}
	return "", false, false, nil
}

func (looseAccounts) HasServer() bool { return false }

// Over real SMTP: every name the directory takes for carol's account —
// spaces, case, her mail address — is carol for the user limit.
func TestUserLimitKeysOnIdentity(t *testing.T) {
	c := NewCounters(clock.NewFake(t0), nil)
	conns := []config.ReceiveConnector{connector(t, `    auth: {mechanisms: [PLAIN], ldap: true, allow_insecure: true}
    rate_limits:
      user: {messages: 2}
ldap: {url: "ldap://127.0.0.1", base_dn: "dc=x", account_filter: "(|(uid=%s)(mail=%s))"}
`)}
	addr := limitedServer(t, c, conns, looseAccounts{}, nil)
	plain := func(user string) string {
		return "AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00carol-pw"))
	}
	for i, name := range []string{"carol", "carol@example.test", "carol ", " carol", "CAROL  ", "Carol@Example.test"} {
		a := dial(t, addr, fmt.Sprintf("127.0.0.%d", 81+i))
		a.cmd("EHLO a.test", "250")
		a.cmd(plain(name), "235")
		want := "250"
		if i >= 2 {
			want = "450 4.7.1"
		}
		a.cmd("MAIL FROM:<carol@example.test>", want)
		a.cmd("QUIT", "221")
	}
}

// hubAt is a topology giving one address to a server.
type hubAt netip.Addr

func (h hubAt) ServerAt(string, netip.Addr) (bool, bool) { return false, false }
func (h hubAt) IsServerAddress(ip netip.Addr) bool       { return ip == netip.Addr(h) }
func (h hubAt) Transport(string) bool                    { return true }
func (h hubAt) IsTransportAddress(ip netip.Addr) bool    { return ip == netip.Addr(h) }

// Over real SMTP: an address the topology gives to a server is never
// refused a connection (a neighbour flooding its /24 cannot keep the
// hub from reaching AUTH); its MAIL and RCPT still count while it has
// not proved to be a server. Other addresses of the /24 are limited.
func TestServerAddressNotLimitedAtConnect(t *testing.T) {
	c := NewCounters(clock.NewFake(t0), nil)
	conns := []config.ReceiveConnector{connector(t, `    rate_limits:
      address: {connections: 1, messages: 1}
      network: {connections: 2}
`)}
	addr := limitedServer(t, c, conns, nil, func(srv *smtp.Server) {
		srv.SetServers(hubAt(netip.MustParseAddr("127.0.0.91")))
	})
	// The attacker fills the /24 (127.0.0.0/24) and its own address.
	x := dial(t, addr, "127.0.0.92")
	x.cmd("EHLO x.test", "250")
	y := dial(t, addr, "127.0.0.93")
	y.cmd("EHLO y.test", "250")
	z := dial(t, addr, "127.0.0.94")
	z.cmd("EHLO z.test", "421 4.7.0")
	for i := 0; i < 3; i++ {
		h := dial(t, addr, "127.0.0.91")
		h.cmd("EHLO hub.test", "250")
		want := "250"
		if i > 0 {
			want = "450 4.7.1" // an unauthenticated session from the hub's address: messages count
		}
		h.cmd("MAIL FROM:<s@x.test>", want)
		h.cmd("QUIT", "221")
	}
}

// A flood of new keys (one client, a new sender domain per MAIL) cannot
// evict a counter at its limit, in its own scope or another: victim.org
// and the user at their limits stay refused, and memory stays bounded.
// When a scope is full of counters at their limits, a new key is
// refused rather than counted nowhere.
func TestKeyFloodEvictsNoCounterAtItsLimit(t *testing.T) {
	clk := clock.NewFake(t0)
	c := NewCounters(clk, nil)
	k, err := New(connector(t, `    rate_limits:
      user: {messages: 2, window: 1h}
      sender_domain: {messages: 2, window: 1h}
`), c)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	victim := info("198.51.100.1")
	user := &smtp.ConnInfo{Connector: "internet", IP: netip.MustParseAddr("198.51.100.2"), User: "carol"}
	for i := 0; i < 2; i++ {
		if r := refused(k.Mail(ctx, victim, "a@victim.org", nil)); r != "" {
			t.Fatalf("victim.org message %d: %s", i+1, r)
		}
		if r := refused(k.Mail(ctx, user, "", nil)); r != "" {
			t.Fatalf("carol's message %d: %s", i+1, r)
		}
	}
	// Older than the victim's counter: an LRU would evict it first.
	clk.Advance(time.Minute)
	flooder := info("203.0.113.66")
	for i := 0; i < maxKeys+maxKeys/8; i++ {
		k.Mail(ctx, flooder, fmt.Sprintf("a@e%d.org", i), nil)
	}
	if n := c.Len(); n > maxKeys || c.scopes[ScopeSenderDomain] > maxScopeKeys {
		t.Fatalf("%d counters (%d sender domains) after the flood", n, c.scopes[ScopeSenderDomain])
	}
	if r := refused(k.Mail(ctx, victim, "a@victim.org", nil)); !strings.Contains(r, "sender domain") {
		t.Fatalf("victim.org's third message after the flood: %q", r)
	}
	if r := refused(k.Mail(ctx, user, "", nil)); !strings.Contains(r, "your account") {
		t.Fatalf("carol's third message after the flood: %q", r)
	}

	// A scope full of counters at their limits: a new key is refused.
	clk.Advance(3 * time.Hour) // every counter idle for two windows
	for i := 0; i < maxScopeKeys; i++ {
		d := fmt.Sprintf("a@f%d.org", i)
		k.Mail(ctx, flooder, d, nil)
		k.Mail(ctx, flooder, d, nil)
	}
	if r := refused(k.Mail(ctx, victim, "a@new.org", nil)); !strings.Contains(r, "sender domain") {
		t.Fatalf("a new domain with the scope full of counters at their limits: %q", r)
	}
	if n := c.scopes[ScopeSenderDomain]; n > maxScopeKeys {
		t.Fatalf("%d sender domain counters", n)
	}
	// Their windows end: room again.
	clk.Advance(3 * time.Hour)
	if r := refused(k.Mail(ctx, victim, "a@new.org", nil)); r != "" {
		t.Fatalf("a new domain once the windows ended: %q", r)
	}
}

// rt50 note: only series that can count are exported. Connections are
// counted per address and network only (connections under user or
// sender_domain is a configuration error: neither is known at connect),
// so the zero-filled refusal series have no connections series for
// those scopes; messages and recipients have all four.
func TestKnownSeriesCanCount(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := NewCounters(clock.NewFake(time.Now()), reg)
	c.Known("in")
	want := map[string]bool{}
	for _, s := range Scopes {
		for _, k := range Kinds {
			if k != KindConnections || s == ScopeAddress || s == ScopeNetwork {
				want[s+"/"+k] = true
			}
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, mf := range mfs {
		if mf.GetName() != "umbra_ratelimit_refusals_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			got[l["scope"]+"/"+l["kind"]] = true
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("series %v, want %v", got, want)
	}
}
