package connfilter_test

import (
	"bufio"
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"umbra/internal/clock"
	"umbra/internal/config"
	"umbra/internal/connfilter"
	"umbra/internal/mailaddr"
	"umbra/internal/queue"
	"umbra/internal/resolver"
	"umbra/internal/resolver/dnstest"
	"umbra/internal/routing"
	"umbra/internal/smtp"
)

// memQueue is the smtp.Queue of these tests: it keeps what arrives.
type memQueue struct {
	mu   sync.Mutex
	next queue.ID
	n    int
}

func (q *memQueue) NewID() queue.ID {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.next++
	return 0x1000 + q.next
}

func (q *memQueue) Submit(context.Context, *queue.Message, []byte) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.n++
	return nil
}

func (q *memQueue) WaitGone(queue.ID) (<-chan struct{}, func()) {
	ch := make(chan struct{})
	close(ch)
	return ch, func() {}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// env is an umbra receive connector with connection filtering, a DNS
// server on loopback and umbra's resolver in front of it on a fake clock.
type env struct {
	t   *testing.T
	dns *dnstest.Server
	clk *clock.Fake
	srv *smtp.Server
	log *syncBuf
	reg *prometheus.Registry
	met *connfilter.Metrics
	// checks is what the connector's last build made.
	checks []smtp.Check
}

func start(t *testing.T, connector string, records ...string) *env {
	t.Helper()
	return startOn(t, "127.0.0.1:0", connector, records...)
}

// startOn is start with the connector bound to binding.
func startOn(t *testing.T, binding, connector string, records ...string) *env {
	t.Helper()
	e := &env{t: t, dns: dnstest.Start(t, records...), clk: clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
		log: &syncBuf{}, reg: prometheus.NewRegistry()}
	c, err := config.Parse([]byte("server: {name: mx.test}\nreceive_connectors:\n  - name: internet\n    bindings: [\""+binding+"\"]\n    permissions: {anonymous: [submit]}\n"+connector), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	up, err := resolver.New(resolver.Config{Servers: []string{e.dns.Addr}, Timeout: 300 * time.Millisecond, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	e.met = connfilter.NewMetrics(e.reg)
	opt := connfilter.Options{Resolver: resolver.NewCache(up, resolver.CacheConfig{Clock: e.clk, NegativeTTL: time.Minute}),
		Log: slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug})), Metrics: e.met,
		Warnings: connfilter.NewLimiter(e.clk, time.Minute)}
	build := func(rc config.ReceiveConnector) ([]smtp.Check, error) {
		var out []smtp.Check
		if len(rc.ConnectionFiltering.DNSBL.Lists) > 0 {
			d, err := connfilter.NewDNSBL(rc.Name, rc.ConnectionFiltering.DNSBL, opt)
			if err != nil {
				return nil, err
			}
			out = append(out, d)
		}
		h, err := connfilter.NewHELO(rc.Name, rc.ConnectionFiltering.HELO, opt)
		if err != nil {
			return nil, err
		}
		e.checks = append(out, h)
		return e.checks, nil
	}
	// The server logs where the checks do, on the same clock: a check's
	// log-only refusals are written by the session's refusal log.
	e.srv, err = smtp.NewServer(smtp.ServerConfig{Hostname: "mx.test", Connectors: c.ReceiveConnectors, Queue: &memQueue{},
		Log: opt.Log, Clock: e.clk,
		Routing: routing.NewTable([]routing.AcceptedDomain{{Domain: "example.test", Type: routing.Authoritative}}, nil),
		Checks:  build})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Listen(); err != nil {
		t.Fatal(err)
	}
	e.srv.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		e.srv.Shutdown(ctx)
	})
	return e
}

type session struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

// dial opens an SMTP session to the connector from the loopback address from.
func (e *env) dial(from string) *session {
	e.t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", e.srv.Addrs()[0].String())
	if err != nil {
		e.t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	e.t.Cleanup(func() { c.Close() })
	s := &session{t: e.t, c: c, r: bufio.NewReader(c)}
	s.expect("220")
	return s
}

func (s *session) reply() string {
	var lines []string
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return "EOF " + strings.Join(lines, " | ")
		}
		line = strings.TrimRight(line, "\r\n")
		lines = append(lines, line)
		if len(line) < 4 || line[3] != '-' {
			return line
		}
	}
}

func (s *session) expect(want string) string {
	s.t.Helper()
	got := s.reply()
	if !strings.HasPrefix(got, want) {
		s.t.Fatalf("got %q, want %q", got, want)
	}
	return got
}

func (s *session) cmd(line, want string) string {
	s.t.Helper()
	s.c.Write([]byte(line + "\r\n"))
	return s.expect(want)
}

// mail runs a whole transaction after the greeting.
func (s *session) mail() {
	s.t.Helper()
	s.cmd("MAIL FROM:<a@sender.test>", "250")
	s.cmd("RCPT TO:<u@example.test>", "250")
	s.cmd("DATA", "354")
	s.cmd("Subject: x\r\n\r\nhello\r\n.", "250")
}

const zen = `    connection_filtering:
      dnsbl:
        lists:
          - zone: zen.test
            codes:
              "127.0.0.2": SBL
              "127.0.0.4-127.0.0.7": XBL
              "127.0.0.10/31": PBL
`

// EDGE connection filtering: a client a blocklist lists is refused with
// 554 5.7.1 naming the list and the reason of its return codes; others
// go on; answers are cached by the resolver for their TTL.
func TestDNSBLRejectsListedClient(t *testing.T) {
	e := start(t, zen,
		"2.0.0.127.zen.test. 300 IN A 127.0.0.2",
		"2.0.0.127.zen.test. 300 IN A 127.0.0.4",
		"11.0.0.127.zen.test. 300 IN A 127.0.0.11",
		"12.0.0.127.zen.test. 300 IN A 127.0.0.9", // a code the configuration does not count
	)
	s := e.dial("127.0.0.2")
	got := s.cmd("EHLO client.test", "554 5.7.1")
	if !strings.Contains(got, "client [127.0.0.2] blocked using zen.test (SBL, XBL)") {
		t.Fatalf("reply %q", got)
	}
	s.cmd("MAIL FROM:<a@sender.test>", "503 5.5.1") // no session without a greeting
	e.dial("127.0.0.11").cmd("HELO client.test", "554 5.7.1 Service unavailable; client [127.0.0.11] blocked using zen.test (PBL)")
	for _, ip := range []string{"127.0.0.3", "127.0.0.12"} {
		s := e.dial(ip)
		s.cmd("EHLO client.test", "250")
		s.mail()
	}
	// A second connection asks no DNS: the answer is cached for its TTL.
	n := e.dns.Queries()
	e.dial("127.0.0.2").cmd("EHLO client.test", "554")
	e.dial("127.0.0.3").cmd("EHLO client.test", "250")
	if e.dns.Queries() != n {
		t.Fatalf("cached answers asked again (%d queries)", e.dns.Queries()-n)
	}
	e.dns.Remove("2.0.0.127.zen.test")
	e.clk.Advance(301 * time.Second)
	e.dial("127.0.0.2").cmd("EHLO client.test", "250") // delisted, and the TTL passed
	if e.dns.Queries() != n+1 {
		t.Fatalf("after the TTL: %d queries, want 1", e.dns.Queries()-n)
	}
	if v := counter(t, e.reg, "umbra_dnsbl_verdicts_total", map[string]string{"connector": "internet", "action": "reject"}); v != 3 {
		t.Fatalf("reject verdicts %v, want 3", v)
	}
}

// counter reads the counter name{labels} from reg (0 when absent).
func counter(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue next
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// Several lists: the score is the weights of the block lists that list
// the client less those of the allow lists; the threshold decides; an
// exempt list's listing overrides every blocklist.
func TestDNSBLScoreAndAllowlists(t *testing.T) {
	e := start(t, `    connection_filtering:
      dnsbl:
        threshold: 2
        lists:
          - zone: a.bl.test
          - zone: b.bl.test
          - zone: c.bl.test
            weight: 0.5
          - zone: wl.test
            kind: allow
          - zone: trusted.test
            kind: exempt
`,
		"2.0.0.127.a.bl.test. 60 IN A 127.0.0.2", // one list: 1 < 2
		"3.0.0.127.a.bl.test. 60 IN A 127.0.0.2", // two lists: 2
		"3.0.0.127.b.bl.test. 60 IN A 127.0.0.2",
		"4.0.0.127.a.bl.test. 60 IN A 127.0.0.2", // two lists less an allow list: 1
		"4.0.0.127.b.bl.test. 60 IN A 127.0.0.2",
		"4.0.0.127.wl.test. 60 IN A 127.0.0.2",
		"5.0.0.127.a.bl.test. 60 IN A 127.0.0.2", // three lists, exempt
		"5.0.0.127.b.bl.test. 60 IN A 127.0.0.2",
		"5.0.0.127.c.bl.test. 60 IN A 127.0.0.2",
		"5.0.0.127.trusted.test. 60 IN A 127.0.0.2",
		"6.0.0.127.a.bl.test. 60 IN A 127.0.0.2", // 1 + 0.5 < 2
		"6.0.0.127.c.bl.test. 60 IN A 127.0.0.2",
	)
	e.dial("127.0.0.2").cmd("EHLO c.test", "250")
	got := e.dial("127.0.0.3").cmd("EHLO c.test", "554 5.7.1")
	if !strings.Contains(got, "a.bl.test (listed), b.bl.test (listed)") {
		t.Fatalf("reply %q", got)
	}
	e.dial("127.0.0.4").cmd("EHLO c.test", "250")
	e.dial("127.0.0.5").cmd("EHLO c.test", "250")
	e.dial("127.0.0.6").cmd("EHLO c.test", "250")
	log := e.log.String()
	if !strings.Contains(log, "client on a DNS blocklist is exempt") || !strings.Contains(log, "exempt_by=trusted.test") {
		t.Fatalf("exemption not logged:\n%s", log)
	}
	if !strings.Contains(log, "below the threshold") {
		t.Fatalf("listing below the threshold not logged:\n%s", log)
	}
}

// A list answering outside 127.0.0.0/8, or with the 127.255.255.x error
// codes, is misconfigured: ignored (never blocks) and logged, once per
// interval. A list that does not answer does not block either.
func TestDNSBLMisconfiguredAndUnansweredListsAreIgnored(t *testing.T) {
	e := start(t, `    connection_filtering:
      dnsbl:
        lists:
          - zone: hijacked.test
          - zone: refused.test
          - zone: slow.test
`,
		"2.0.0.127.hijacked.test. 60 IN A 192.0.2.1",
		"2.0.0.127.hijacked.test. 60 IN A 127.0.0.2",
		"2.0.0.127.refused.test. 60 IN A 127.255.255.254",
		"3.0.0.127.hijacked.test. 60 IN A 198.51.100.7",
	)
	e.dns.Drop("slow.test")
	s := e.dial("127.0.0.2")
	s.cmd("EHLO c.test", "250")
	s.mail()
	e.dial("127.0.0.3").cmd("EHLO c.test", "250")
	log := e.log.String()
	for _, want := range []string{
		`zone=hijacked.test answer="192.0.2.1: an answer outside 127.0.0.0/8"`,
		`zone=refused.test answer="127.255.255.254: an error code`,
		`DNS list not answered: counted as not listing" zone=slow.test`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %s:\n%s", want, log)
		}
	}
	if n := strings.Count(log, "zone=hijacked.test answer="); n != 1 {
		t.Errorf("misconfiguration of hijacked.test logged %d times in the interval, want 1", n)
	}
	if v := counter(t, e.reg, "umbra_dnsbl_lookups_total", map[string]string{"zone": "hijacked.test", "result": "misconfigured"}); v != 2 {
		t.Errorf("misconfigured lookups of hijacked.test: %v, want 2", v)
	}
}

// tempfail answers 421 and closes; log refuses nothing.
func TestDNSBLActions(t *testing.T) {
	records := []string{"2.0.0.127.zen.test. 60 IN A 127.0.0.2"}
	e := start(t, strings.Replace(zen, "      dnsbl:\n", "      dnsbl:\n        action: tempfail\n", 1), records...)
	s := e.dial("127.0.0.2")
	got := s.cmd("EHLO c.test", "421 4.7.1")
	if !strings.Contains(got, "client [127.0.0.2] listed by zen.test (SBL); try again later") {
		t.Fatalf("reply %q", got)
	}
	if r := s.reply(); !strings.HasPrefix(r, "EOF") {
		t.Fatalf("connection open after 421: %q", r)
	}
	e = start(t, strings.Replace(zen, "      dnsbl:\n", "      dnsbl:\n        action: log\n", 1), records...)
	s = e.dial("127.0.0.2")
	s.cmd("EHLO c.test", "250")
	s.mail()
	if !strings.Contains(e.log.String(), "client on a DNS blocklist (log only)") {
		t.Fatalf("log:\n%s", e.log.String())
	}
}

// HELO checks: syntax (501 5.5.4: beyond the front door's domain or
// address literal, no bare address), forward-confirmed reverse DNS (550
// 5.7.25, 450 4.7.25 when DNS cannot say), HELO name must resolve
// (550 5.7.1); tempfail answers 450 instead.
func TestHELOChecks(t *testing.T) {
	records := []string{
		"4.0.0.127.in-addr.arpa. 60 IN PTR good.client.test.",
		"good.client.test. 60 IN A 127.0.0.4",
		"5.0.0.127.in-addr.arpa. 60 IN PTR liar.client.test.",
		"liar.client.test. 60 IN A 192.0.2.5",
		"6.0.0.127.in-addr.arpa. 60 IN PTR broken.fail.test.",
		"exists.test. 60 IN A 192.0.2.9",
	}
	e := start(t, `    connection_filtering:
      helo:
        syntax: reject
        fcrdns: reject
        must_resolve: reject
`, records...)
	e.dns.Fail("fail.test")
	s := e.dial("127.0.0.4")
	s.cmd("EHLO bad_name..test", "501 5.5.4 Invalid EHLO argument")         // no name at all: the front door's, whatever the setting
	s.cmd("EHLO 192.0.2.1", "501 5.5.4 <192.0.2.1>: EHLO command rejected") // an address without brackets
	s.cmd("EHLO nowhere.test", "550 5.7.1 <nowhere.test>: EHLO command rejected: host not found")
	s.cmd("EHLO exists.test", "250")
	s.mail()
	e.dial("127.0.0.4").cmd("EHLO [127.0.0.4]", "250")
	e.dial("127.0.0.5").cmd("EHLO exists.test", "550 5.7.25 Client host rejected: the reverse DNS of [127.0.0.5] does not confirm it")
	e.dial("127.0.0.7").cmd("EHLO exists.test", "550 5.7.25") // no PTR at all
	e.dial("127.0.0.6").cmd("EHLO exists.test", "450 4.7.25") // the PTR's name cannot be resolved now

	e = start(t, `    connection_filtering:
      helo:
        syntax: tempfail
        fcrdns: log
        must_resolve: tempfail
`, records...)
	e.dial("127.0.0.4").cmd("EHLO 192.0.2.1", "450 4.7.1")
	e.dial("127.0.0.4").cmd("EHLO nowhere.test", "450 4.7.1")
	s = e.dial("127.0.0.5")
	s.cmd("EHLO exists.test", "250")
	s.mail()
	if !strings.Contains(e.log.String(), "reason=helo_fcrdns code=550 enhanced_code=5.7.25 stage=helo check=fcrdns result=fail") {
		t.Fatalf("log:\n%s", e.log.String())
	}
}

func TestQueryName(t *testing.T) {
	for _, c := range []struct{ ip, want string }{
		{"192.0.2.99", "99.2.0.192.zen.test."},
		{"::ffff:192.0.2.99", "99.2.0.192.zen.test."},
		{"2001:db8::1", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.zen.test."},
	} {
		if got := connfilter.QueryName(netip.MustParseAddr(c.ip), "zen.test"); got != c.want {
			t.Errorf("%s: %s, want %s", c.ip, got, c.want)
		}
	}
}

func TestValidHELO(t *testing.T) {
	for name, want := range map[string]bool{
		"mail.example.com": true, "mail.example.com.": true, "localhost": true, "win_host.corp.test": true,
		"[192.0.2.1]": true, "[IPv6:2001:db8::1]": true, "[ipv6:::1]": true,
		"": false, "192.0.2.1": false, "[192.0.2.1": false, "[2001:db8::1]": false, "[IPv6:192.0.2.1]": false,
		"a..b": false, "-a.test": false, "a-.test": false, "a b": false, "[]": false, "host.123": false,
		strings.Repeat("a", 64) + ".test": false, "[IPv6:fe80::1%eth0]": false,
	} {
		if got := connfilter.ValidHELO(name); got != want {
			t.Errorf("ValidHELO(%q) = %v, want %v", name, got, want)
		}
	}
}

// FuzzValidHELO: a name ValidHELO accepts is a bracketed literal that
// parses, or labels of letters, digits, '-' and '_' within DNS limits.
func FuzzValidHELO(f *testing.F) {
	for _, s := range []string{"mail.example.com", "[192.0.2.1]", "[IPv6:::1]", "a..b", "192.0.2.1", "[", "x_y.test.", "é.test"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !connfilter.ValidHELO(s) {
			return
		}
		if strings.HasPrefix(s, "[") {
			in := strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
			if len(in) > 5 && strings.EqualFold(in[:5], "ipv6:") {
				in = in[5:]
			}
			if _, err := netip.ParseAddr(in); err != nil {
				t.Fatalf("%q accepted: %v", s, err)
			}
			return
		}
		if len(s) > 254 || strings.Contains(s, "..") {
			t.Fatalf("%q accepted", s)
		}
		for _, c := range s {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
				t.Fatalf("%q accepted with %q", s, c)
			}
		}
	})
}

// A transport server of the organisation (here: an externally secured
// connector) is never refused by connection filtering.
func TestTransportServersAreNotFiltered(t *testing.T) {
	e := start(t, "    externally_secured: true\n"+zen+"      helo:\n        syntax: reject\n        fcrdns: reject\n",
		"2.0.0.127.zen.test. 300 IN A 127.0.0.2")
	s := e.dial("127.0.0.2")
	s.cmd("EHLO 192.0.2.1", "250") // the syntax check would refuse a bare address
	s.mail()
	if e.dns.Queries() != 0 {
		t.Fatalf("%d DNS queries for a transport server", e.dns.Queries())
	}
}

// The HELO check reads an address literal with the one reader RCPT and
// the greeting syntax use (mailaddr.ParseLiteral): none takes a literal
// another refuses ([IPv6:1.2.3.4] is no literal; [1.2.3.04] is 1.2.3.4).
func TestValidHELOLiteralOneReader(t *testing.T) {
	for _, lit := range []string{"[192.0.2.1]", "[1.2.3.04]", "[IPv6:::1]", "[IPv6:1.2.3.4]", "[::1]", "[IPv6:fe80::1%eth0]", "[300.1.1.1]", "[x:y]", "[]"} {
		_, err := mailaddr.ParseLiteral(lit)
		if connfilter.ValidHELO(lit) != (err == nil) {
			t.Errorf("%s: HELO check %v, literal reader %v", lit, connfilter.ValidHELO(lit), err)
		}
	}
}

// hubAt is a topology giving one address to a server.
type hubAt netip.Addr

func (h hubAt) ServerAt(string, netip.Addr) (bool, bool) { return false, false }
func (h hubAt) IsServerAddress(ip netip.Addr) bool       { return ip == netip.Addr(h) }
func (h hubAt) Transport(string) bool                    { return true }
func (h hubAt) IsTransportAddress(ip netip.Addr) bool    { return ip == netip.Addr(h) }

// avail40 (SR-17, W-2): a client at an address the topology gives to a
// server (a hub that logs in with its server account: no transport
// server yet at its greeting) is not refused at EHLO because DNS cannot
// answer — the server must reach its AUTH, and a 450 kept its shadow
// session (copies on receipt, heartbeats) from opening while the
// resolver was down. An answer DNS does give still decides, and the
// same client at an address no server has gets the 450 (as
// TestHELOChecks' 127.0.0.6).
func TestHELODNSDownPassesServerAddress(t *testing.T) {
	e := start(t, `    connection_filtering:
      helo:
        fcrdns: reject
        must_resolve: reject
`, "121.0.0.127.in-addr.arpa. 60 IN PTR hub.fail.test.")
	e.dns.Fail("fail.test")
	e.srv.SetServers(hubAt(netip.MustParseAddr("127.0.0.121")))
	s := e.dial("127.0.0.121")
	s.cmd("EHLO hub.fail.test", "250") // its PTR's name and its HELO name cannot be resolved now
	// It did not log in as a server: its MAIL meets the checks
	// (TestHELODNSDownServerAddressMailStillChecked).
	s.cmd("MAIL FROM:<a@sender.test>", "450 4.7.25")
	e.dial("127.0.0.121").cmd("EHLO nowhere.test", "550 5.7.1 <nowhere.test>: EHLO command rejected: host not found")
	if !strings.Contains(e.log.String(), "HELO check not answered: passed for a server's address") {
		t.Fatalf("log:\n%s", e.log.String())
	}
	e.srv.SetServers(nil)
	e.dial("127.0.0.121").cmd("EHLO hub.fail.test", "450 4.7.25")
}

// rravail40 (EDGE, W-2): the pass TestHELODNSDownPassesServerAddress
// gives a client at a server's address is for its AUTH, not its mail:
// on a connector that is not externally secured that address proves
// nothing (a shared host, a NAT, anyone behind it), and a client there
// that is no transport server by its MAIL — anonymous, or logged in as
// a user — meets the HELO checks DNS could not answer at its greeting
// at its MAIL, with the reply its greeting would have had: 450, never
// a 5xx. It named a HELO name in a domain whose servers do not answer
// and sent mail past every HELO check. A transport server's MAIL is
// never checked (Helo's rule).
func TestHELODNSDownServerAddressMailStillChecked(t *testing.T) {
	e := start(t, `    connection_filtering:
      helo:
        fcrdns: reject
        must_resolve: reject
`, "212.0.0.127.in-addr.arpa. 60 IN PTR hub.fail.test.", "hub.ok.test. 60 IN A 127.0.0.213",
		"213.0.0.127.in-addr.arpa. 60 IN PTR hub.ok.test.")
	e.dns.Fail("fail.test")
	e.srv.SetServers(hubAt(netip.MustParseAddr("127.0.0.212")))
	s := e.dial("127.0.0.212")
	s.cmd("EHLO hub.fail.test", "250") // passed for its AUTH
	s.cmd("MAIL FROM:<a@sender.test>", "450 4.7.25 Client host rejected: cannot confirm the reverse DNS of [127.0.0.212] now")
	s.cmd("RCPT TO:<u@example.test>", "503")
	s.cmd("MAIL FROM:<a@sender.test>", "450 4.7.25") // every MAIL of the session alike
	// At a server's address DNS does answer for, the checks asked again
	// pass as they did at the greeting.
	e.srv.SetServers(hubAt(netip.MustParseAddr("127.0.0.213")))
	s = e.dial("127.0.0.213")
	s.cmd("EHLO hub.ok.test", "250")
	s.mail()
	// A client that proved to be a transport server is not checked at
	// MAIL: asked directly, as the session asks it after its AUTH.
	var sc smtp.SessionCheck
	for _, ck := range e.checks {
		if c, ok := ck.(smtp.SessionCheck); ok {
			sc = c
		}
	}
	if sc == nil {
		t.Fatal("the HELO check keeps no session")
	}
	info := &smtp.ConnInfo{Connector: "internet", IP: netip.MustParseAddr("127.0.0.212"), Helo: "hub.fail.test", ServerAddress: true}
	cs := sc.Open(context.Background(), info)
	h, ok := cs.(smtp.MailCheck)
	if !ok {
		t.Fatal("the HELO check has no MAIL stage")
	}
	if v := cs.(smtp.HeloCheck).Helo(context.Background(), info, info.Helo); v.Reply != nil {
		t.Fatalf("the greeting at a server's address got %+v", v)
	}
	info.Server = true
	if v := h.Mail(context.Background(), info, "a@sender.test", nil); v.Reply != nil || v.Discard {
		t.Fatalf("a transport server's MAIL got %+v", v)
	}
	info.Server = false
	if v := h.Mail(context.Background(), info, "a@sender.test", nil); v.Reply == nil || v.Reply.Code != 450 {
		t.Fatalf("a non-server's MAIL at a server's address got %+v", v)
	}
}

// rr2avail40 (EDGE, W-2): the checks a client at a server's address
// passed at its greeting for its AUTH are asked at its MAIL whatever the
// topology says by then: a reload of the topology that takes the address
// from the server between the greeting and MAIL made the Mail stage see
// a client at no server's address, judged at its HELO — and the checks
// DNS never answered were skipped for good. And a session counts each
// check's result once (umbra_helo_checks_total): the MAIL asking them
// again counted the same DNS error once per MAIL.
func TestHELODNSDownServerAddressTopologyDroppedMailChecked(t *testing.T) {
	e := start(t, `    connection_filtering:
      helo:
        fcrdns: reject
        must_resolve: reject
`, "215.0.0.127.in-addr.arpa. 60 IN PTR hub.fail.test.")
	e.dns.Fail("fail.test")
	e.srv.SetServers(hubAt(netip.MustParseAddr("127.0.0.215")))
	s := e.dial("127.0.0.215")
	s.cmd("EHLO hub.fail.test", "250") // passed for its AUTH
	s.cmd("MAIL FROM:<a@sender.test>", "450 4.7.25")
	s.cmd("MAIL FROM:<a@sender.test>", "450 4.7.25")
	e.srv.SetServers(nil) // the address is no server's any more
	s.cmd("MAIL FROM:<a@sender.test>", "450 4.7.25 Client host rejected: cannot confirm the reverse DNS of [127.0.0.215] now")
	s.cmd("RCPT TO:<u@example.test>", "503")
	for _, c := range []struct {
		check, result string
		want          float64
	}{{"fcrdns", "error", 1}, {"must_resolve", "error", 1}} {
		if v := counter(t, e.reg, "umbra_helo_checks_total", map[string]string{"check": c.check, "result": c.result}); v != c.want {
			t.Errorf("umbra_helo_checks_total{check=%q,result=%q} = %v after one greeting and three MAILs, want %v", c.check, c.result, v, c.want)
		}
	}
}

// Forward-confirmed reverse DNS of an IPv4 client is confirmed by the
// PTR name's A records only: an AAAA record holding ::ffff:a.b.c.d is
// no address of the IPv4 client a.b.c.d (rt42-edge F3's sibling; SPF's
// a and mx the same). A name with both an A record and such an AAAA
// record of the client confirms it.
func TestHELOFCrDNSIPv4ClientByARecordsOnly(t *testing.T) {
	filter := `    connection_filtering:
      helo:
        fcrdns: reject
`
	e := start(t, filter, "137.0.0.127.in-addr.arpa. 60 IN PTR mapped.client.test.",
		"mapped.client.test. 60 IN AAAA ::ffff:127.0.0.137")
	e.dial("127.0.0.137").cmd("EHLO mapped.client.test", "550 5.7.25 Client host rejected: the reverse DNS of [127.0.0.137] does not confirm it")
	e = start(t, filter, "137.0.0.127.in-addr.arpa. 60 IN PTR both.client.test.",
		"both.client.test. 60 IN A 127.0.0.137",
		"both.client.test. 60 IN AAAA ::ffff:127.0.0.137")
	e.dial("127.0.0.137").cmd("EHLO both.client.test", "250")
}
