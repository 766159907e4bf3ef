package delivery

import (
	"context"
	"net"
	"testing"
	"time"

	"umbra/internal/routing"
)

// A holder answering slower than the caller's bound (the start's
// AskFirst: 3 s) is not marked unresponsive for it: only the probe's own
// bound running out (receiptTry), or a failure of the session, says the
// server does not answer. Else a healthy holder is passed over by copies
// on receipt and route order after every start.
func TestProbeCallerDeadlineMarksNothing(t *testing.T) {
	defer func(d time.Duration) { receiptTry = d }(receiptTry)
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // takes sessions, answers none
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	addr := ln.Addr().String()
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.1:25"},
			{Name: "hub-b", Role: routing.RoleHub, Site: "a", Address: addr}},
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Hostname: "hub-a.test", Routing: routing.NewTable(nil, nil), Resolver: &fakeDNS{},
		Topology: topo, LocalServer: "hub-a", ShadowServerID: "hub-a", ShadowRetriesRemote: 2, ShadowRetriesLocal: 2,
		CommandTimeout: time.Hour, DataTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	r := NewReceiptShadow(d, "db-a")
	defer r.Close()

	receiptTry = time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	_, err = r.Probe(ctx, "hub-b")
	cancel()
	if err == nil {
		t.Fatal("a probe of a server that answers nothing succeeded")
	}
	if d.health.Unhealthy("hub-b", addr) {
		t.Fatal("the caller's deadline marked the holder unresponsive")
	}
	// The probe's own bound still does.
	receiptTry = 200 * time.Millisecond
	if _, err := r.Probe(context.Background(), "hub-b"); err == nil {
		t.Fatal("a probe of a server that answers nothing succeeded")
	}
	if !d.health.Unhealthy("hub-b", addr) {
		t.Fatal("a probe that ran out its own bound did not mark the holder unresponsive")
	}
}
