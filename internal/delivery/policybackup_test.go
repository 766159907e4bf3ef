package delivery

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/orgid"
	"umbra/internal/queue"
	"umbra/internal/resolver"
	"umbra/internal/resolver/dnstest"
	"umbra/internal/routing"

	gosmtp "github.com/emersion/go-smtp"
)

// daneBackupWorld is dane.test with two MX hosts, both with secure TLSA
// records at the port the MX hosts listen on: MX 10 rqa.dane.test
// (127.0.0.2, an SMTP server offering no STARTTLS) and MX 20
// rqb.dane.test (127.0.0.3, where nothing listens: connection refused).
func daneBackupWorld(t *testing.T) *tlsWorld {
	t.Helper()
	port := freePort(t, "127.0.0.2", "127.0.0.3")
	tlsa := "3 1 1 " + strings.Repeat("ab", 32)
	z := dnstest.StartSigned(t, "127.0.0.30", "dane.test",
		"dane.test. 300 IN MX 10 rqa.dane.test.",
		"dane.test. 300 IN MX 20 rqb.dane.test.",
		"rqa.dane.test. 300 IN A 127.0.0.2",
		"rqb.dane.test. 300 IN A 127.0.0.3",
		fmt.Sprintf("_%d._tcp.rqa.dane.test. 300 IN TLSA %s", port, tlsa),
		fmt.Sprintf("_%d._tcp.rqb.dane.test. 300 IN TLSA %s", port, tlsa))
	addr := dnstest.StartUnbound(t, "127.0.0.31", z)
	res, err := resolver.New(resolver.Config{Servers: []string{addr}, TrustAD: true, Timeout: 3 * time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	w := newTLSWorldOnPort(t, res, port)
	startMX(t, fmt.Sprintf("127.0.0.2:%d", port), nil, false)
	return w
}

// A TLS policy that kept the message from the host that answered, and a
// backup host that could not be reached: the attempt's reply is the
// policy's refusal at the host that answered (451 4.7.5, naming it and
// the policy), not the backup's connection failure (451 4.4.1). The
// queue's scheduler reads that status: a policy refusal counts toward no
// destination's death (queue feedback), so mail that may go without TLS
// still goes; and the delay and expiry DSNs, message list and the log
// show what stopped the message (rt-fixb19 items 1 and 2; SPEC TLS-).
func TestPolicyRefusalOutranksDeadBackup(t *testing.T) {
	w := daneBackupWorld(t)
	for _, requireTLS := range []bool{false, true} {
		m := message("a@dane.test")
		m.RequireTLS = requireTLS
		r := w.deliver(m)
		if r.Outcome != queue.Deferred || !strings.HasPrefix(r.Reply, "451 4.7.5 ") ||
			!strings.Contains(r.Reply, "rqa.dane.test[127.0.0.2]") || !strings.Contains(r.Reply, "STARTTLS not offered") {
			t.Fatalf("REQUIRETLS %v: %+v, want 451 4.7.5 naming rqa and STARTTLS not offered", requireTLS, r)
		}
		if requireTLS != strings.Contains(r.Reply, requireTLSMark) {
			t.Errorf("REQUIRETLS %v: %q", requireTLS, r.Reply)
		}
		if !strings.HasPrefix(r.NextHop, "rqa.dane.test[127.0.0.2]") {
			t.Errorf("REQUIRETLS %v: next hop %q, want the host whose refusal is the reply", requireTLS, r.NextHop)
		}
	}
}

// The same with MTA-STS enforce: the MX the policy lists offers no
// STARTTLS, its listed backup refuses connections.
func TestMTASTSRefusalOutranksDeadBackup(t *testing.T) {
	w := newTLSWorld(t, strings.Split(stsRecords+"\nsts.test. 300 IN MX 20 mx2.backup.sts.test.\nmx2.backup.sts.test. 300 IN A 127.0.0.3", "\n")...)
	w.sts.set("sts.test", "version: STSv1\r\nmode: enforce\r\nmx: mx1.sts.test\r\nmx: *.backup.sts.test\r\nmax_age: 86400\r\n")
	startMX(t, fmt.Sprintf("127.0.0.2:%d", w.port), nil, false)
	r := w.deliver(message("a@sts.test"))
	if r.Outcome != queue.Deferred || !strings.HasPrefix(r.Reply, "451 4.7.5 ") || !strings.Contains(r.Reply, "STARTTLS not offered") {
		t.Fatalf("%+v, want 451 4.7.5 … STARTTLS not offered", r)
	}
}

// An enforced MTA-STS policy that does not list the MX host that
// answers, and lists one that is down: no host the policy lets the
// message go to could be reached, so the attempt keeps the listed
// host's own 451 4.4.1 — the scheduler counts it against the
// destination (queue feedback), whose window shrinks and which goes
// dead, rather than every message retrying the listed hosts through
// connect timeouts forever — and names the skipped host in words. A
// "TLS-Required: No" message, which the policy does not bind, goes to
// the live host (rt reread item 1; SPEC TLS-, Q-).
func TestMTASTSListedHostsDownCountAgainstDestination(t *testing.T) {
	w := newTLSWorld(t, strings.Split(stsRecords+"\nsts.test. 300 IN MX 20 mx2.backup.sts.test.\nmx2.backup.sts.test. 300 IN A 127.0.0.3", "\n")...)
	w.sts.set("sts.test", "version: STSv1\r\nmode: enforce\r\nmx: *.backup.sts.test\r\nmax_age: 86400\r\n")
	mx := startMX(t, fmt.Sprintf("127.0.0.2:%d", w.port), nil, false)
	r := w.deliver(message("a@sts.test"))
	if r.Outcome != queue.Deferred || !strings.HasPrefix(r.Reply, "451 4.4.1 connect to mx2.backup.sts.test") ||
		!strings.HasSuffix(r.Reply, " (mx1.sts.test not listed by the MTA-STS policy of sts.test)") {
		t.Fatalf("%+v, want the listed host's 451 4.4.1 naming the unlisted mx1", r)
	}
	if !strings.HasPrefix(r.NextHop, "mx2.backup.sts.test[127.0.0.3]") {
		t.Errorf("next hop %q, want the listed host that failed", r.NextHop)
	}
	// A REQUIRETLS message the policy kept from mx1 before any session:
	// its reply has the REQUIRETLS form (the queue's expiry reads it:
	// 550 5.7.10), with the listed host's own status all the same.
	rm := message("c@sts.test")
	rm.ID += 2
	rm.RequireTLS = true
	rr := w.deliver(rm)
	if rr.Outcome != queue.Deferred || !strings.HasPrefix(rr.Reply, "451 4.4.1 REQUIRETLS: ") ||
		!strings.Contains(rr.Reply, "connect to mx2.backup.sts.test") || !strings.Contains(rr.Reply, "mx1.sts.test not listed") {
		t.Errorf("REQUIRETLS: %+v, want 451 4.4.1 REQUIRETLS: … connect to mx2 … (mx1.sts.test not listed …)", rr)
	}
	m := message("b@sts.test")
	m.ID++
	res := w.d.Deliver(context.Background(), m, []byte("TLS-Required: No\r\nSubject: x\r\n\r\nhi\r\n"), all(m))
	if res[0].Outcome != queue.RelayedOK || len(mx.received()) != 1 {
		t.Fatalf("TLS-Required: No: %+v", res)
	}
}

// Inside the organisation the same: a REQUIRETLS relay kept by TLS from
// the hub that answered (no STARTTLS) and a hub of the same site that
// refuses connections — whichever the site's round robin tries first —
// is deferred with the TLS cause, not the other hub's connection failure.
func TestRequireTLSRelayRefusalOutranksDeadHub(t *testing.T) {
	s := startSinkWith(t, "127.0.0.8:0", false, nil, "hub-b1", func(srv *gosmtp.Server) { srv.EnableREQUIRETLS = true })
	dead := fmt.Sprintf("127.0.0.10:%d", freePort(t, "127.0.0.10"))
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}, {Name: "b"}},
		Links: []routing.SiteLink{{Name: "a-b", Sites: []string{"a", "b"}, Cost: 1}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.7:25"},
			{Name: "hub-b1", Role: routing.RoleHub, Site: "b", Address: s.addr},
			{Name: "hub-b2", Role: routing.RoleHub, Site: "b", Address: dead}},
		Connectors: []routing.SendConnector{{Name: "out", AddressSpaces: []routing.AddressSpace{{Domain: "*", Cost: 1}},
			SourceServers: []string{"hub-b1", "hub-b2"}, SmartHosts: []string{"127.0.0.9:25"}, Enabled: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Hostname: "hub-a.test", Routing: routing.NewTable(nil, nil), Topology: topo, LocalServer: "hub-a",
		Resolver: &fakeDNS{}, ConnectTimeout: 2 * time.Second, CommandTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for i := range 2 {
		m := message("r@remote.example")
		m.ID += queue.ID(i)
		m.RequireTLS, m.OrgID = true, orgid.New()
		res := d.Deliver(context.Background(), m, body, all(m))
		if len(res) != 1 || res[0].Outcome != queue.Deferred || !strings.HasPrefix(res[0].Reply, "451 4.7.5 REQUIRETLS: ") ||
			!strings.Contains(res[0].Reply, "hub-b1[") || strings.Contains(res[0].Reply, "4.4.1") {
			t.Fatalf("attempt %d: %+v, want 451 4.7.5 REQUIRETLS naming hub-b1", i, res)
		}
	}
}

// The policy's refusal keeps the words of an mx_address_limit cut that
// came after it: the hosts not tried are named, so no bounce follows.
func TestPolicyRefusalKeepsTheCut(t *testing.T) {
	w := newTLSWorld(t, strings.Split(stsRecords+"\nsts.test. 300 IN MX 20 mx2.backup.sts.test.\nmx2.backup.sts.test. 300 IN A 127.0.0.3", "\n")...)
	w.sts.set("sts.test", "version: STSv1\r\nmode: enforce\r\nmx: mx1.sts.test\r\nmx: *.backup.sts.test\r\nmax_age: 86400\r\n")
	startMX(t, fmt.Sprintf("127.0.0.2:%d", w.port), nil, false)
	sc := mxConnector(fmt.Sprint(w.port))
	sc.TLS, sc.MXAddressLimit = config.TLSOpportunistic, 1
	table := routing.NewTable([]routing.AcceptedDomain{{Domain: "example.test", Type: routing.Authoritative}},
		[]routing.Connector{{Name: sc.Name, Enabled: true, AddressSpaces: []routing.AddressSpace{{Domain: "*", Cost: 1}}}})
	d, err := New(Config{Hostname: "umbra.test", Routing: table, SendConnectors: []config.SendConnector{sc}, Resolver: w.res,
		ConnectTimeout: 2 * time.Second, CommandTimeout: 5 * time.Second, DataTimeout: 5 * time.Second,
		TLSConfig: &tls.Config{RootCAs: w.ca.pool}, TLSPolicy: w.eng})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	m := message("a@sts.test")
	r := d.Deliver(context.Background(), m, body, all(m))[0]
	if r.Outcome != queue.Deferred || !strings.HasPrefix(r.Reply, "451 4.7.5 ") || !strings.Contains(r.Reply, "STARTTLS not offered") ||
		!strings.Contains(r.Reply, "mx_address_limit 1 reached") {
		t.Fatalf("%+v, want the policy's refusal and the cut", r)
	}
}

// Two servers of a site that both answer and both keep a REQUIRETLS
// relay by TLS (no STARTTLS): the reply is the refusal of the first one
// tried, as deliverRemote ranks a destination's MX hosts — one rule for
// both (tlsStop): the first TLS refusal at a host that answered
// outranks whatever came after it (mendy19 item 3; SPEC TLS-).
func TestRelayFirstTLSRefusalIsTheReply(t *testing.T) {
	var mu sync.Mutex
	var order []string
	met := func(name string) func(*gosmtp.Server) {
		return func(srv *gosmtp.Server) {
			srv.EnableREQUIRETLS = true
			inner := srv.Backend
			srv.Backend = gosmtp.BackendFunc(func(c *gosmtp.Conn) (gosmtp.Session, error) {
				mu.Lock()
				order = append(order, name)
				mu.Unlock()
				return inner.NewSession(c)
			})
		}
	}
	s1 := startSinkWith(t, "127.0.0.8:0", false, nil, "hub-b1", met("hub-b1"))
	s2 := startSinkWith(t, "127.0.0.10:0", false, nil, "hub-b2", met("hub-b2"))
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}, {Name: "b"}},
		Links: []routing.SiteLink{{Name: "a-b", Sites: []string{"a", "b"}, Cost: 1}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.7:25"},
			{Name: "hub-b1", Role: routing.RoleHub, Site: "b", Address: s1.addr},
			{Name: "hub-b2", Role: routing.RoleHub, Site: "b", Address: s2.addr}},
		Connectors: []routing.SendConnector{{Name: "out", AddressSpaces: []routing.AddressSpace{{Domain: "*", Cost: 1}},
			SourceServers: []string{"hub-b1", "hub-b2"}, SmartHosts: []string{"127.0.0.9:25"}, Enabled: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Hostname: "hub-a.test", Routing: routing.NewTable(nil, nil), Topology: topo, LocalServer: "hub-a",
		Resolver: &fakeDNS{}, ConnectTimeout: 2 * time.Second, CommandTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	m := message("r@remote.example")
	m.RequireTLS, m.OrgID = true, orgid.New()
	res := d.Deliver(context.Background(), m, body, all(m))
	mu.Lock()
	defer mu.Unlock()
	if len(order) != 2 {
		t.Fatalf("servers met %v, want both", order)
	}
	if len(res) != 1 || res[0].Outcome != queue.Deferred || !strings.HasPrefix(res[0].Reply, "451 4.7.5 REQUIRETLS: ") ||
		!strings.Contains(res[0].Reply, order[0]+"[") || !strings.HasPrefix(res[0].NextHop, order[0]+"[") {
		t.Fatalf("%+v, want the refusal of %s, tried first", res, order[0])
	}
}
