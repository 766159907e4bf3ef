package delivery

import (
	"context"
	"crypto/tls"
	"slices"
	"sync"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/routing"
)

type outboundRecorder struct {
	mu       sync.Mutex
	known    []string
	sessions map[[2]string]int
	failures map[[2]string]int
}

func (o *outboundRecorder) Known(dest string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.known = append(o.known, dest)
}

func (o *outboundRecorder) Session(dest, tls string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sessions[[2]string{dest, tls}]++
}

func (o *outboundRecorder) TLSFailure(dest, policy string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.failures[[2]string{dest, policy}]++
}

// Every outbound session is counted by its send connector and TLS
// outcome: the negotiated version, "plain" where opportunistic TLS found
// no STARTTLS, "none" where the policy never tries; a required or verify
// policy that cannot be met counts as that policy's failure, no session.
func TestOutboundTLSOutcomes(t *testing.T) {
	certPEM, keyPEM, pool := selfSigned(t)
	cert, _ := tls.X509KeyPair(certPEM, keyPEM)
	tlsSink := startSink(t, "127.0.0.1:0", false, &tls.Config{Certificates: []tls.Certificate{cert}})
	plain := startSink(t, "127.0.0.1:0", false, nil)
	conn := func(name, domain, host, policy string) config.SendConnector {
		return config.SendConnector{Name: name, AddressSpaces: []config.AddressSpace{{Domain: domain, Cost: 1}},
			SmartHosts: []string{host}, TLS: policy}
	}
	d := newDeliverer(t, &fakeDNS{hosts: map[string][]string{"mx.test": {"127.0.0.1"}}}, config.Mailbox{},
		conn("verified", "v.example", "mx.test:"+portOf(tlsSink.addr), config.TLSVerify),
		conn("opportunistic", "o.example", "127.0.0.1:"+portOf(plain.addr), config.TLSOpportunistic),
		conn("opportunistic-tls", "ot.example", "127.0.0.1:"+portOf(tlsSink.addr), config.TLSOpportunistic),
		conn("cleartext", "n.example", "127.0.0.1:"+portOf(plain.addr), config.TLSNone),
		conn("required", "r.example", "127.0.0.1:"+portOf(plain.addr), config.TLSRequired),
		// The certificate names mx.test, not 127.0.0.1: verification fails.
		conn("misnamed", "b.example", "127.0.0.1:"+portOf(tlsSink.addr), config.TLSVerify))
	d.st.Load().cfg.TLSConfig = &tls.Config{RootCAs: pool}
	o := &outboundRecorder{sessions: map[[2]string]int{}, failures: map[[2]string]int{}}
	d.SetOutbound(o)
	for _, want := range []string{"verified", "opportunistic", "cleartext", "required", "misnamed", "redirect"} {
		if !slices.Contains(o.known, want) {
			t.Errorf("%s is not exported at zero: %v", want, o.known)
		}
	}
	for _, rcpt := range []string{"a@v.example", "a@o.example", "a@ot.example", "a@n.example", "a@r.example", "a@b.example"} {
		m := message(rcpt)
		d.Deliver(context.Background(), m, body, all(m))
	}
	wantSessions := map[[2]string]int{{"verified", "TLS 1.3"}: 1, {"opportunistic", "plain"}: 1,
		{"opportunistic-tls", "TLS 1.3"}: 1, {"cleartext", "none"}: 1}
	if !mapsEqual(o.sessions, wantSessions) {
		t.Errorf("sessions %v, want %v", o.sessions, wantSessions)
	}
	wantFailures := map[[2]string]int{{"required", "required"}: 1, {"misnamed", "verify"}: 1}
	if !mapsEqual(o.failures, wantFailures) {
		t.Errorf("TLS failures %v, want %v", o.failures, wantFailures)
	}
	// A reload exports the new configuration's connectors.
	cfg := d.st.Load().cfg
	cfg.SendConnectors = append(cfg.SendConnectors, conn("added", "added.example", "127.0.0.1:1", config.TLSNone))
	if err := d.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(o.known, "added") {
		t.Errorf("a connector added by a reload is not exported: %v", o.known)
	}
}

func mapsEqual(a, b map[[2]string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// Inside the organisation: a relay to another site's hub counts as "org"
// (opportunistic: "plain" against a server without STARTTLS), and the
// topology's destinations and send connectors are exported at zero.
func TestOutboundTLSOrg(t *testing.T) {
	plain := startSink(t, "127.0.0.1:0", false, nil)
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}, {Name: "b"}},
		Links: []routing.SiteLink{{Name: "a-b", Sites: []string{"a", "b"}, Cost: 1}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.1:1"},
			{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: plain.addr}},
		Connectors: []routing.SendConnector{{Name: "out", AddressSpaces: []routing.AddressSpace{{Domain: "*", Cost: 1}},
			SourceServers: []string{"hub-b"}, Enabled: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Hostname: "hub-a", Routing: routing.NewTable(nil, nil), Topology: topo, LocalServer: "hub-a",
		ConnectTimeout: 2 * time.Second, CommandTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	o := &outboundRecorder{sessions: map[[2]string]int{}, failures: map[[2]string]int{}}
	d.SetOutbound(o)
	for _, want := range []string{"org", "mailbox", "out", "redirect"} {
		if !slices.Contains(o.known, want) {
			t.Errorf("%s is not exported at zero: %v", want, o.known)
		}
	}
	m := message("x@anywhere.example")
	if res := d.Deliver(context.Background(), m, body, all(m)); res[0].Outcome != queue.RelayedOK {
		t.Fatalf("relay: %+v", res)
	}
	if want := map[[2]string]int{{"org", "plain"}: 1}; !mapsEqual(o.sessions, want) {
		t.Errorf("sessions %v, want %v", o.sessions, want)
	}
}
