package delivery

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/resolver"
	"umbra/internal/resolver/dnstest"
	"umbra/internal/routing"
	"umbra/internal/testsupport"
	"umbra/internal/tlspolicy"
)

type rr26Results struct {
	mu  sync.Mutex
	got []string
}

func (r *rr26Results) Result(domain, policyType, mx, resultType string) {
	r.mu.Lock()
	r.got = append(r.got, domain+" "+policyType+" "+mx+" "+resultType)
	r.mu.Unlock()
}

// TLS-, Q-3 (rr26, the sched26 reread): the TLSA lookup of a retry is now cut at the
// message's expiry (remote.go: hostTLS(lctx, …)). hostTLS reports
// every failed TLSA lookup to the TLS report (RFC 8460) as the
// domain's failure — so umbra's own expiry, not the domain's DNSSEC,
// goes to the domain's owner as a "dnssec-invalid" session.
func TestExpiryCutTLSALookupIsNoTLSReportFailure(t *testing.T) {
	const dom = "tlsahang.test"
	hop := testsupport.Serve(t, "127.0.0.181:0", func(c net.Conn) { c.Close() })
	port := portOf(hop.Addr())
	srv := dnstest.Start(t,
		dom+". 300 IN MX 10 mx1."+dom+".",
		"mx1."+dom+". 300 IN A 127.0.0.181",
	)
	srv.Drop("_tcp.mx1." + dom)
	srv.Secure(dom)
	cl, err := resolver.New(resolver.Config{Servers: []string{srv.Addr}, Timeout: time.Hour, Attempts: 1, TrustAD: true})
	if err != nil {
		t.Fatal(err)
	}
	res := &askWatch{Resolver: resolver.NewCache(cl, resolver.CacheConfig{Budget: time.Hour}), name: "_" + port + "._tcp.mx1." + dom, qtype: dns.TypeTLSA, asked: make(chan struct{})}
	sc := mxConnector(port)
	sc.TLS = config.TLSNone
	store, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	rep := &rr26Results{}
	cfg := Config{Hostname: "umbra.test", SendConnectors: []config.SendConnector{sc}, Resolver: res,
		Routing:        routing.NewTable(nil, []routing.Connector{{Name: sc.Name, Enabled: true, AddressSpaces: []routing.AddressSpace{{Domain: "*", Cost: 1}}}}),
		ConnectTimeout: time.Hour, CommandTimeout: time.Hour, DataTimeout: time.Hour, MXLookupTimeout: time.Hour,
		TLSPolicy: tlspolicy.New(tlspolicy.Config{Resolver: res, DANE: true, Store: store, FetchTimeout: time.Hour, Report: rep})}
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)

	var past atomic.Bool
	reached := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ectx := queue.WithExpiryCheck(ctx, past.Load, reached)
	m := message("a@" + dom)
	m.Attempts = 1
	got := make(chan []queue.Result, 1)
	go func() { got <- d.Deliver(ectx, m, body, all(m)) }()
	select {
	case <-res.asked:
	case <-time.After(10 * time.Second):
		t.Fatal("no TLSA lookup")
	}
	past.Store(true)
	close(reached)
	var r []queue.Result
	select {
	case r = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("not cut")
	}
	if len(r) != 1 || r[0].Reply != queue.ExpiredUnsentReply {
		t.Fatalf("results %+v", r)
	}
	rep.mu.Lock()
	defer rep.mu.Unlock()
	for _, g := range rep.got {
		if strings.Contains(g, "tlsa") || strings.Contains(g, "dnssec") {
			t.Fatalf("the expiry's cut of the TLSA lookup went to the domain's TLS report: %q", rep.got)
		}
	}
}
