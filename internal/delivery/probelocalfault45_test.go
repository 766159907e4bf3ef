package delivery

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"umbra/internal/routing"
	"umbra/internal/testsupport"
)

// SR-6, SR-16 (rt45 redirect, the local-failure rule; README "such a
// failed push of a copy on receipt or probe of a holder marks that
// server neither unresponsive nor unreached"): a probe of a holder that
// could not connect because this server cannot bind its source address
// (removed from the host since the start checked it) says nothing of
// the holder. It ends with the LocalFault, and the holder is neither
// marked in destination health (queue destinations showed the holder
// failing, "shadow server probe: …", for this server's fault) nor
// forgotten as one whose last probe answered (unreachedHolder). A probe
// that finds no answer still marks it.
func TestSR6ProbeLocalFaultMarksNoHolder(t *testing.T) {
	addr := testsupport.AddrInRange(t, "127.0.0.195", 17500, 500) // nothing listens: a refused connection
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.195:17499"},
			{Name: "hub-b", Role: routing.RoleHub, Site: "a", Address: addr}},
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Hostname: "hub-a.test", Routing: routing.NewTable(nil, nil), Resolver: &fakeDNS{},
		Topology: topo, LocalServer: "hub-a", ShadowServerID: "hub-a", ConnectTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	r := NewReceiptShadow(d, "db-a")
	defer r.Close()
	r.probeAnswered.Store("hub-b", true) // its last probe answered

	// Set after the start's check (checkSourceAddresses): an address
	// the host no longer has (192.0.2.1: TEST-NET-1).
	d.st.Load().cfg.SourceAddress = "192.0.2.1"
	_, err = r.Probe(context.Background(), "hub-b")
	var lf interface{ LocalFault() }
	if !errors.As(err, &lf) || !strings.Contains(err.Error(), "server.source_address 192.0.2.1") {
		t.Fatalf("probe from a source address this host lacks: %v; want the sourceFault", err)
	}
	if d.health.Unhealthy("hub-b", addr) {
		t.Errorf("hub-b marked in destination health for a probe that failed here before any connection")
	}
	if v, _ := r.probeAnswered.Load("hub-b"); v != true {
		t.Errorf("hub-b's last answered probe forgotten (%v) for a probe that failed here", v)
	}

	d.st.Load().cfg.SourceAddress = ""
	if _, err := r.Probe(context.Background(), "hub-b"); err == nil || errors.As(err, &lf) {
		t.Fatalf("probe of a holder that does not answer: %v; want its failure", err)
	}
	if !d.health.Unhealthy("hub-b", addr) {
		t.Errorf("hub-b not marked for a probe it did not answer: the test proves nothing")
	}
	if v, _ := r.probeAnswered.Load("hub-b"); v != false {
		t.Errorf("hub-b's probe that found no answer not noted (%v): the test proves nothing", v)
	}
}
