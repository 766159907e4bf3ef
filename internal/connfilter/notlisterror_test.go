package connfilter_test

import (
	"bufio"
	"context"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"umbra/internal/clock"
	"umbra/internal/config"
	"umbra/internal/connfilter"
	"umbra/internal/resolver"
	"umbra/internal/resolver/dnstest"
	"umbra/internal/routing"
	"umbra/internal/smtp"
)

// OPS-2, EDGE-1: a DNS list lookup that umbra's own stop cut short is
// no error of the list's: umbra_dnsbl_lookups_total counts it
// result="cancelled", never result="error" (the list not answering,
// which an alert on a list's health reads). Through a real SMTP session
// on loopback, a real DNS server that never answers, umbra's resolver
// and cache: the server stops while the client's EHLO waits on the
// list. Seen to fail first: the stop's lookup counted result="error".
func TestDNSBLStopCountedCancelledNotError(t *testing.T) {
	dns := dnstest.StartOn(t, "127.0.0.175:10154")
	dns.Drop("stopping.test") // never answered
	up, err := resolver.New(resolver.Config{Servers: []string{dns.Addr}, Timeout: 20 * time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	opt := connfilter.Options{Resolver: resolver.NewCache(up, resolver.CacheConfig{}), Metrics: connfilter.NewMetrics(reg),
		Timeout: 20 * time.Second}
	c, err := config.Parse([]byte(`server: {name: mx.test}
receive_connectors:
  - name: internet
    bindings: ["127.0.0.175:10126"]
    permissions: {anonymous: [submit]}
    connection_filtering:
      dnsbl:
        lists:
          - zone: stopping.test
`), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := smtp.NewServer(smtp.ServerConfig{Hostname: "mx.test", Connectors: c.ReceiveConnectors, Queue: &memQueue{},
		Routing: routing.NewTable([]routing.AcceptedDomain{{Domain: "example.test", Type: routing.Authoritative}}, nil),
		Checks: func(rc config.ReceiveConnector) ([]smtp.Check, error) {
			d, err := connfilter.NewDNSBL(rc.Name, rc.ConnectionFiltering.DNSBL, opt)
			return []smtp.Check{d}, err
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	srv.Serve()
	conn, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.175")}}).Dial("tcp", srv.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(conn)
	if l, _ := r.ReadString('\n'); !strings.HasPrefix(l, "220") {
		t.Fatalf("greeting %q", l)
	}
	conn.Write([]byte("EHLO client.test\r\n"))
	for i := 0; dns.Queries() == 0; i++ {
		if i == 1000 {
			t.Fatal("the list was never asked")
		}
		time.Sleep(10 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	srv.Shutdown(ctx) // umbra stops while the EHLO waits on the list
	labels := func(result string) map[string]string {
		return map[string]string{"zone": "stopping.test", "result": result}
	}
	for i := 0; counter(t, reg, "umbra_dnsbl_lookups_total", labels("cancelled")) == 0; i++ {
		if i == 1500 {
			t.Fatalf("the lookup the stop cut never counted result=cancelled (error: %v)",
				counter(t, reg, "umbra_dnsbl_lookups_total", labels("error")))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := counter(t, reg, "umbra_dnsbl_lookups_total", labels("error")); n != 0 {
		t.Fatalf("the lookup the stop cut counted result=error %v times: blamed on the list", n)
	}
}

// splitResolver panics on the lookups of one name's list question (a
// defect, in the reading of its answer say) and asks the real resolver
// for the others.
type splitResolver struct {
	resolver.Resolver
	panicOn string
}

func (r splitResolver) Lookup(ctx context.Context, name string, qtype uint16) (*resolver.Answer, error) {
	if name == r.panicOn {
		panic("injected panic in a DNS list lookup")
	}
	return r.Resolver.Lookup(ctx, name, qtype)
}

// EDGE-1, OPS-2: a panic recovered in a DNS list's lookup is umbra's own
// defect: the log says so at ERROR ("DNS list lookup panicked", with the
// panic), never WARN "DNS list not answered" blaming the list, and it
// opens no episode of the list's failures — the list's own first
// failure after it is warned of at once; it is counted result=panicked,
// not result=error. Seen to fail first: the panic was warned of as the
// list not answering, and the list's real failure after it, within the
// minute, went to DEBUG as one of that episode.
func TestDNSBLPanicBlamesNoList(t *testing.T) {
	dns := dnstest.StartOn(t, "127.0.0.175:10155")
	dns.Fail("2.2.0.192.broken.test") // the list's own failure: SERVFAIL
	up, err := resolver.New(resolver.Config{Servers: []string{dns.Addr}, Timeout: 2 * time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	buf := &syncBuf{}
	reg := prometheus.NewRegistry()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	opt := connfilter.Options{Resolver: splitResolver{Resolver: up, panicOn: "1.2.0.192.broken.test."},
		Log: slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelInfo})), Metrics: connfilter.NewMetrics(reg),
		Warnings: connfilter.NewLimiter(clk, time.Minute)}
	cfg := config.DNSBL{Threshold: 1, Action: config.ActionReject, Lists: []config.DNSList{{Zone: "broken.test", Kind: config.ListBlock, Weight: 1}}}
	d, err := connfilter.NewDNSBL("internet", cfg, opt)
	if err != nil {
		t.Fatal(err)
	}
	const warn = `level=WARN msg="DNS list not answered: counted as not listing" zone=broken.test`
	if v := d.Connect(context.Background(), &smtp.ConnInfo{Connector: "internet", IP: netip.MustParseAddr("192.0.2.1")}); v.Reply != nil {
		t.Fatalf("a panicked lookup refused the client: %v", v.Reply)
	}
	if !strings.Contains(buf.String(), `level=ERROR msg="DNS list lookup panicked" zone=broken.test`) ||
		!strings.Contains(buf.String(), "injected panic") {
		t.Fatalf("the recovered panic not said at ERROR with the panic:\n%s", buf)
	}
	if strings.Contains(buf.String(), warn) {
		t.Fatalf("umbra's own panic warned of as the list not answering:\n%s", buf)
	}
	labels := func(result string) map[string]string {
		return map[string]string{"zone": "broken.test", "result": result}
	}
	if n := counter(t, reg, "umbra_dnsbl_lookups_total", labels("error")); n != 0 {
		t.Fatalf("the panic counted as the list's error (%v)", n)
	}
	if n := counter(t, reg, "umbra_dnsbl_lookups_total", labels("panicked")); n != 1 {
		t.Fatalf("result=panicked %v, want 1", n)
	}
	// The list's own failure, within the minute: the first of its
	// episode, warned of at once.
	d.Connect(context.Background(), &smtp.ConnInfo{Connector: "internet", IP: netip.MustParseAddr("192.0.2.2")})
	if n := strings.Count(buf.String(), warn); n != 1 {
		t.Fatalf("the list's first failure after umbra's panic: %d WARNs, want 1:\n%s", n, buf)
	}
}

// OPS-2, EDGE-1: the sibling of TestDNSBLStopCountedCancelledNotError
// in the HELO checks: a check whose DNS umbra's own stop cut short is
// counted umbra_helo_checks_total result="cancelled", never
// result="error" (DNS could not be asked). Through a real SMTP session:
// the server stops while the client's EHLO waits on its reverse DNS.
// Seen to fail first: the stop's lookup counted fcrdns result="error".
func TestHELOStopCountedCancelledNotError(t *testing.T) {
	dns := dnstest.StartOn(t, "127.0.0.175:10157")
	dns.Drop("in-addr.arpa") // the client's PTR: never answered
	up, err := resolver.New(resolver.Config{Servers: []string{dns.Addr}, Timeout: 20 * time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	opt := connfilter.Options{Resolver: resolver.NewCache(up, resolver.CacheConfig{}), Metrics: connfilter.NewMetrics(reg),
		Timeout: 20 * time.Second}
	c, err := config.Parse([]byte(`server: {name: mx.test}
receive_connectors:
  - name: internet
    bindings: ["127.0.0.175:10127"]
    permissions: {anonymous: [submit]}
    connection_filtering:
      helo: {fcrdns: tempfail}
`), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := smtp.NewServer(smtp.ServerConfig{Hostname: "mx.test", Connectors: c.ReceiveConnectors, Queue: &memQueue{},
		Routing: routing.NewTable([]routing.AcceptedDomain{{Domain: "example.test", Type: routing.Authoritative}}, nil),
		Checks: func(rc config.ReceiveConnector) ([]smtp.Check, error) {
			h, err := connfilter.NewHELO(rc.Name, rc.ConnectionFiltering.HELO, opt)
			return []smtp.Check{h}, err
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	srv.Serve()
	conn, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.175")}}).Dial("tcp", srv.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(conn)
	if l, _ := r.ReadString('\n'); !strings.HasPrefix(l, "220") {
		t.Fatalf("greeting %q", l)
	}
	conn.Write([]byte("EHLO client.test\r\n"))
	for i := 0; dns.Queries() == 0; i++ {
		if i == 1000 {
			t.Fatal("the client's reverse DNS was never asked")
		}
		time.Sleep(10 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	srv.Shutdown(ctx) // umbra stops while the EHLO waits on DNS
	labels := func(result string) map[string]string { return map[string]string{"check": "fcrdns", "result": result} }
	for i := 0; counter(t, reg, "umbra_helo_checks_total", labels("cancelled")) == 0; i++ {
		if i == 1500 {
			t.Fatalf("the check the stop cut never counted result=cancelled (error: %v)",
				counter(t, reg, "umbra_helo_checks_total", labels("error")))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := counter(t, reg, "umbra_helo_checks_total", labels("error")); n != 0 {
		t.Fatalf("the check the stop cut counted result=error %v times: blamed on DNS", n)
	}
}

// panickyUpstream is a resolver upstream that panics (a defect in the
// parsing of a response, say): the cache recovers it and its callers
// get a temporary error.
type panickyUpstream struct{}

func (panickyUpstream) Lookup(context.Context, string, uint16) (*resolver.Answer, error) {
	panic("injected panic in the resolver's lookup")
}

// EDGE-1, OPS-2: the sibling of TestDNSBLPanicBlamesNoList one layer
// down: a panic the resolver recovered (umbra_dns_panics_total, its own
// ERROR "dns lookup panicked") reaches the DNS list check as a lookup
// that failed — umbra's defect too, never the list's: no WARN "DNS list
// not answered", no episode, counted result=panicked, not error. Seen
// to fail first: warned of as the list not answering, counted error.
func TestDNSBLResolverPanicBlamesNoList(t *testing.T) {
	buf := &syncBuf{}
	reg := prometheus.NewRegistry()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	opt := connfilter.Options{Resolver: resolver.NewCache(panickyUpstream{}, resolver.CacheConfig{Clock: clk}),
		Log: slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelInfo})), Metrics: connfilter.NewMetrics(reg),
		Warnings: connfilter.NewLimiter(clk, time.Minute)}
	cfg := config.DNSBL{Threshold: 1, Action: config.ActionReject, Lists: []config.DNSList{{Zone: "broken.test", Kind: config.ListBlock, Weight: 1}}}
	d, err := connfilter.NewDNSBL("internet", cfg, opt)
	if err != nil {
		t.Fatal(err)
	}
	if v := d.Connect(context.Background(), &smtp.ConnInfo{Connector: "internet", IP: netip.MustParseAddr("192.0.2.1")}); v.Reply != nil {
		t.Fatalf("a panicked lookup refused the client: %v", v.Reply)
	}
	if strings.Contains(buf.String(), `msg="DNS list not answered`) {
		t.Fatalf("the resolver's panic warned of as the list not answering:\n%s", buf)
	}
	labels := func(result string) map[string]string {
		return map[string]string{"zone": "broken.test", "result": result}
	}
	if n := counter(t, reg, "umbra_dnsbl_lookups_total", labels("error")); n != 0 {
		t.Fatalf("the resolver's panic counted as the list's error (%v)", n)
	}
	if n := counter(t, reg, "umbra_dnsbl_lookups_total", labels("panicked")); n != 1 {
		t.Fatalf("result=panicked %v, want 1", n)
	}
}

// EDGE-1, OPS-2: the HELO checks' sibling of
// TestDNSBLResolverPanicBlamesNoList: a check whose lookup the resolver
// answered with its recovered panic (resolver.ErrPanicked) counts
// umbra_helo_checks_total result="panicked", not "error" (DNS could not
// be asked); it still answers as DNS that could not be asked would (a
// 450, never a 5xx). Seen to fail first: counted fcrdns result=error.
func TestHELOResolverPanicCountedPanicked(t *testing.T) {
	reg := prometheus.NewRegistry()
	opt := connfilter.Options{Resolver: resolver.NewCache(panickyUpstream{}, resolver.CacheConfig{}), Metrics: connfilter.NewMetrics(reg)}
	h, err := connfilter.NewHELO("internet", config.HELOChecks{Syntax: config.ActionOff, FCrDNS: config.ActionReject,
		MustResolve: config.ActionOff}, opt)
	if err != nil {
		t.Fatal(err)
	}
	c := &smtp.ConnInfo{Connector: "internet", IP: netip.MustParseAddr("192.0.2.1")}
	v := h.Open(context.Background(), c).(smtp.HeloCheck).Helo(context.Background(), c, "client.test")
	if v.Reply == nil || v.Reply.Code != 450 {
		t.Fatalf("verdict %v, want 450 (DNS could not say), never a 5xx", v.Reply)
	}
	labels := func(result string) map[string]string { return map[string]string{"check": "fcrdns", "result": result} }
	if n := counter(t, reg, "umbra_helo_checks_total", labels("error")); n != 0 {
		t.Fatalf("the resolver's panic counted as DNS's error (%v)", n)
	}
	if n := counter(t, reg, "umbra_helo_checks_total", labels("panicked")); n != 1 {
		t.Fatalf("result=panicked %v, want 1", n)
	}
}

// OPS-2, EDGE-1 (front48 item 4): a HELO check whose DNS the resolver's
// recovered panic answered says so where it is logged, result=panicked,
// never result=error (a failure of DNS's, which the operator would go
// and look for in the DNS): the log-only refusal and the line of a pass
// for a server's address alike.
func TestHELOResolverPanicLoggedPanickedNotError(t *testing.T) {
	for _, action := range []string{config.ActionLog, config.ActionReject} {
		var logs strings.Builder
		opt := connfilter.Options{Resolver: resolver.NewCache(panickyUpstream{}, resolver.CacheConfig{}),
			Metrics: connfilter.NewMetrics(prometheus.NewRegistry()), Log: slog.New(slog.NewTextHandler(&logs, nil))}
		h, err := connfilter.NewHELO("internet", config.HELOChecks{Syntax: config.ActionOff, FCrDNS: action,
			MustResolve: config.ActionOff}, opt)
		if err != nil {
			t.Fatal(err)
		}
		// The server's address: a pass for its AUTH where DNS cannot say
		// (the rejecting action); the log-only action refuses nobody.
		c := &smtp.ConnInfo{Connector: "internet", IP: netip.MustParseAddr("192.0.2.1"), ServerAddress: true}
		v := h.Open(context.Background(), c).(smtp.HeloCheck).Helo(context.Background(), c, "client.test")
		if v.Reply != nil {
			t.Fatalf("%s: verdict %v, want none", action, v.Reply)
		}
		var said []string
		for _, n := range v.Noted {
			said = append(said, n.Msg)
			for i := 0; i+1 < len(n.Attrs); i += 2 {
				if n.Attrs[i] == "result" {
					said = append(said, "result="+n.Attrs[i+1].(string))
				}
			}
		}
		got := logs.String() + strings.Join(said, " ")
		if !strings.Contains(got, "result=panicked") || strings.Contains(got, "result=error") {
			t.Errorf("%s: logged %q, want result=panicked", action, got)
		}
	}
}
