package delivery

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// lookupCounter wraps a Resolver, counting address lookups; slow, when
// set, makes each address lookup wait for its context's end (at most
// 3 s: a lookup that hangs until the resolver's own timeouts).
type lookupCounter struct {
	Resolver
	hosts atomic.Int32
	slow  bool
}

func (l *lookupCounter) LookupHost(ctx context.Context, host string) ([]string, error) {
	l.hosts.Add(1)
	if l.slow {
		select {
		case <-ctx.Done():
			return nil, &net.DNSError{Err: "i/o timeout", Name: host, IsTimeout: true, IsTemporary: true}
		case <-time.After(3 * time.Second):
			return nil, &net.DNSError{Err: "i/o timeout", Name: host, IsTimeout: true, IsTemporary: true}
		}
	}
	return l.Resolver.LookupHost(ctx, host)
}

// An MX host's addresses are looked up when delivery comes to it, in
// preference order: the best host answering, the 29 others are never
// asked about.
func TestMXAddressesLookedUpWhenReached(t *testing.T) {
	s := startSink(t, "127.0.0.2:0", false, nil)
	dns := &lookupCounter{Resolver: manyMX("lazy.example", 2, 30)}
	sc := mxConnector(portOf(s.addr))
	sc.MXAddressLimit = config.DefaultMXAddressLimit
	d := newDeliverer(t, dns, config.Mailbox{}, sc)
	m := message("x@lazy.example")
	res := d.Deliver(context.Background(), m, body, all(m))
	if len(res) != 1 || res[0].Outcome != queue.RelayedOK {
		t.Fatalf("results: %+v", res)
	}
	if n := dns.hosts.Load(); n != 1 {
		t.Errorf("%d MX hosts' addresses looked up for a delivery to the best one, want 1", n)
	}
}

// One attempt looks up at most 2 × mx_address_limit MX host names: a
// domain whose 40 MX hosts cannot be looked up costs one attempt 10
// lookups, and defers (the hosts not looked up might have addresses)
// with a reply that says so.
func TestMXAddressLookupsBoundedByName(t *testing.T) {
	base := manyMX("many.example", 100, 40)
	base.fail = map[string]error{}
	for name := range base.hosts {
		base.fail[name] = &net.DNSError{Err: "server misbehaving", Name: name, IsTemporary: true}
	}
	dns := &lookupCounter{Resolver: base}
	sc := mxConnector("25")
	sc.MXAddressLimit = config.DefaultMXAddressLimit
	d := newDeliverer(t, dns, config.Mailbox{}, sc)
	m := message("x@many.example")
	res := d.Deliver(context.Background(), m, body, all(m))
	if n := dns.hosts.Load(); n != 2*config.DefaultMXAddressLimit {
		t.Errorf("%d MX host names looked up in one attempt, want %d", n, 2*config.DefaultMXAddressLimit)
	}
	if len(res) != 1 || res[0].Outcome != queue.Deferred || !strings.HasPrefix(res[0].Reply, "451 4.4.") ||
		!strings.Contains(res[0].Reply, "30 more MX hosts not looked up in this attempt") {
		t.Fatalf("results: %+v", res)
	}
	// A bounce needs every host's denial: 40 hosts with no address,
	// of which 10 were asked, is no proof.
	for name := range base.hosts {
		base.fail[name] = &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}
	res = d.Deliver(context.Background(), m, body, all(m))
	if len(res) != 1 || res[0].Outcome != queue.Deferred {
		t.Fatalf("denials for the hosts looked up only: %+v", res)
	}
}

// The lookups of one attempt together take at most the lookup time
// (transport.mx_lookup_timeout): MX hosts whose address lookups hang
// hold the delivery slot that long, not a resolver timeout per host;
// the recipients are deferred 451 4.4.3 naming the bound.
func TestMXLookupTimeBounded(t *testing.T) {
	dns := &lookupCounter{Resolver: manyMX("slow.example", 100, 30), slow: true}
	d := newDeliverer(t, dns, config.Mailbox{}, mxConnector("25"))
	d.st.Load().cfg.MXLookupTimeout = 200 * time.Millisecond
	m := message("x@slow.example")
	res := d.Deliver(context.Background(), m, body, all(m))
	if len(res) != 1 || res[0].Outcome != queue.Deferred || !strings.HasPrefix(res[0].Reply, "451 4.4.3 ") ||
		!strings.Contains(res[0].Reply, "mx_lookup_timeout 200ms") {
		t.Fatalf("results: %+v", res)
	}
	if n := dns.hosts.Load(); n > 1 {
		t.Errorf("%d address lookups started after the lookup time ran out in the first", n)
	}
}

// This server among MX hosts of equal preference (RFC 5321 §5.1: it and
// every host not better than it are dropped) is found wherever the
// random order of equals puts it, past the names one attempt looks up
// too: its name makes it looked up first, its address decides (rt16b
// F1). The mail loops back (554 5.4.6); no host of its preference or a
// worse one is tried.
func TestSelfAmongEqualMXFoundAnywhere(t *testing.T) {
	s := startSink(t, "127.0.0.2:0", false, nil)
	port := portOf(s.addr)
	dns := &fakeDNS{mx: map[string][]*net.MX{"eq.example": {}}, hosts: map[string][]string{}}
	for i := 0; i < 6; i++ {
		name := fmt.Sprintf("e%d.eq.example", i)
		dns.mx["eq.example"] = append(dns.mx["eq.example"], &net.MX{Host: name + ".", Pref: 10})
		dns.hosts[name] = []string{"127.0.0.2"}
	}
	dns.mx["eq.example"] = append(dns.mx["eq.example"], &net.MX{Host: "UMBRA.test.", Pref: 10}, &net.MX{Host: "backup.eq.example.", Pref: 20})
	dns.hosts["backup.eq.example"] = []string{"127.0.0.2"}
	dns.hosts["UMBRA.test"] = []string{"127.0.0.9"}
	sc := mxConnector(port)
	sc.MXAddressLimit = 1 // two names looked up per attempt
	d := newDeliverer(t, dns, config.Mailbox{}, sc)
	d.st.Load().cfg.OwnBindings = []string{"127.0.0.9:" + port}
	for range 10 { // the order of equals is random
		m := message("x@eq.example")
		res := d.Deliver(context.Background(), m, body, all(m))
		if len(res) != 1 || res[0].Outcome != queue.FailedPerm || res[0].Reply != "554 5.4.6 mail for eq.example loops back to myself: next hop UMBRA.test[127.0.0.9]:"+port+" is an address this server listens on" {
			t.Fatalf("results: %+v", res)
		}
	}
	if got := s.received(); len(got) != 0 {
		t.Fatalf("hosts not better than this server got %d messages", len(got))
	}
}

// route explain's check of this server among the next hops (CheckSelf)
// looks hosts up as delivery does: not every MX host's address.
func TestCheckSelfLooksUpAsDeliveryDoes(t *testing.T) {
	dns := &lookupCounter{Resolver: manyMX("many.example", 100, 40)}
	c := CheckSelf(context.Background(), dns, "umbra.test", []string{"127.0.0.1:25"}, "internet", nil, 25, config.DefaultMXAddressLimit, "many.example")
	if n := dns.hosts.Load(); n > 2*config.DefaultMXAddressLimit {
		t.Errorf("%d MX host names looked up, want at most %d", n, 2*config.DefaultMXAddressLimit)
	}
	if c.Self != "" || len(c.Tried) == 0 {
		t.Errorf("check: %+v", c)
	}
}

// Hosts are looked up a preference at a time: a preference whose hosts
// an enforced MTA-STS policy does not list is passed over for the next
// one, as when every host was looked up first. The listed backup takes
// the message; the unlisted host is never contacted.
func TestLazyLookupsPassOverUnlistedPreference(t *testing.T) {
	w := newTLSWorld(t, `_mta-sts.sts.test. 300 IN TXT "v=STSv1; id=1"`,
		"sts.test. 300 IN MX 10 mx1.sts.test.",
		"sts.test. 300 IN MX 20 mx2.sts.test.",
		"sts.test. 300 IN MX 30 mx.backup.sts.test.",
		"mx1.sts.test. 300 IN A 127.0.0.4", // nothing listens: refused
		"mx2.sts.test. 300 IN A 127.0.0.3",
		"mx.backup.sts.test. 300 IN A 127.0.0.2",
		"mta-sts.sts.test. 300 IN A 127.0.0.1")
	w.sts.set("sts.test", "version: STSv1\r\nmode: enforce\r\nmx: mx1.sts.test\r\nmx: *.backup.sts.test\r\nmax_age: 86400\r\n")
	good := w.ca.issue(t, "mx.backup.sts.test")
	backup := startMX(t, fmt.Sprintf("127.0.0.2:%d", w.port), &good, false)
	unlisted := startMX(t, fmt.Sprintf("127.0.0.3:%d", w.port), &good, false)
	r := w.deliver(message("a@sts.test"))
	if r.Outcome != queue.RelayedOK || !strings.HasPrefix(r.NextHop, "mx.backup.sts.test[") {
		t.Fatalf("%+v", r)
	}
	if len(backup.received()) != 1 || len(unlisted.received()) != 0 {
		t.Fatalf("backup got %d, unlisted host %d", len(backup.received()), len(unlisted.received()))
	}
}

// transport.mx_lookup_timeout bounds the lookups of an attempt, not the
// attempt: a first MX host slow to greet (longer than the lookup time)
// does not cut the lookup of the next one, which takes the message.
func TestLookupTimeCountsLookupsOnly(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.5:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			time.Sleep(400 * time.Millisecond) // slower than the lookup time below
			c.Write([]byte("421 4.3.2 busy\r\n"))
			c.Close()
		}
	}()
	port := portOf(ln.Addr().String())
	s := startSink(t, "127.0.0.2:"+port, false, nil)
	dns := &fakeDNS{mx: map[string][]*net.MX{"slowgreet.example": {{Host: "m0.slowgreet.example.", Pref: 10}, {Host: "m1.slowgreet.example.", Pref: 20}}},
		hosts: map[string][]string{"m0.slowgreet.example": {"127.0.0.5"}, "m1.slowgreet.example": {"127.0.0.2"}}}
	sc := mxConnector(port)
	sc.MXAddressLimit = config.DefaultMXAddressLimit
	d := newDeliverer(t, dns, config.Mailbox{}, sc)
	d.st.Load().cfg.MXLookupTimeout = 200 * time.Millisecond
	m := message("x@slowgreet.example")
	res := d.Deliver(context.Background(), m, body, all(m))
	if len(res) != 1 || res[0].Outcome != queue.RelayedOK {
		t.Fatalf("results: %+v", res)
	}
	if len(s.received()) != 1 {
		t.Fatal("the second MX host got nothing")
	}
}
