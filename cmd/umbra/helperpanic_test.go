package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"umbra/internal/routing"
)

// panickyHosts panics at every lookup (a defect in the resolver, say).
type panickyHosts struct{}

func (panickyHosts) LookupHost(context.Context, string) ([]string, error) {
	panic("injected panic in a server host lookup")
}

// OPS-2, SR-1: a panic on a helper goroutine of the daemon's — here the
// lookup of a topology server's host name at a reload — is recovered:
// the daemon keeps serving, the lookup counts as failed for now (the
// addresses the name had are kept, as in a DNS outage), the panic is
// counted in umbra_helper_panics_total{part="server_hosts"} and logged
// at ERROR, without a message or a credential. Seen to fail first: the
// test binary died of the panic — in the daemon, every session with it.
func TestHelperGoroutinePanicRecovered(t *testing.T) {
	load := func() *routing.Topology {
		topo, err := routing.NewTopology(routing.TopologyInput{Sites: []routing.Site{{Name: "a"}}, Servers: []routing.Server{
			{Name: "hub-b", Role: routing.RoleHub, Site: "a", Address: "hub-b.corp.test:25"},
		}})
		if err != nil {
			t.Fatal(err)
		}
		return topo
	}
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	reg := prometheus.NewRegistry()
	gd := newGuard(reg, log)
	at := netip.MustParseAddr("127.0.0.143")
	start := load()
	resolveServerHosts(start, nil, fakeHosts{"hub-b.corp.test": {at.String()}}, log, gd)
	reloaded := load()
	resolveServerHosts(reloaded, start, panickyHosts{}, log, gd)
	if listed, ok := reloaded.ServerAddressed("hub-b", at); !listed || !ok {
		t.Errorf("after a lookup that panicked: %s no longer hub-b's (listed %v)", at, listed)
	}
	if n := testutil.ToFloat64(gd.count.WithLabelValues("server_hosts")); n != 1 {
		t.Errorf("umbra_helper_panics_total{part=server_hosts} %v, want 1", n)
	}
	if !strings.Contains(buf.String(), "helper goroutine panicked") || !strings.Contains(buf.String(), "part=server_hosts") {
		t.Errorf("no ERROR line for the panic:\n%s", buf.String())
	}
}

// OPS-2: a helper loop that panics runs again (guard.loop), counted
// each time, and ends with its context.
func TestHelperLoopRunsAgainAfterPanic(t *testing.T) {
	defer func(d time.Duration) { helperRestart = d }(helperRestart)
	helperRestart = 0
	gd := newGuard(nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runs := 0
	gd.loop(ctx, "test", func() {
		runs++
		if runs < 3 {
			panic("injected")
		}
	})
	if runs != 3 {
		t.Fatalf("ran %d times, want 3 (two panics, then a normal end)", runs)
	}
	if n := testutil.ToFloat64(gd.count.WithLabelValues("test")); n != 2 {
		t.Fatalf("counted %v panics, want 2", n)
	}
}
