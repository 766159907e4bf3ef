package delivery

import (
	"testing"
	"time"

	"umbra/internal/routing"
)

// rr35 shadowdup: an original kept back because its taken-over copy is
// in delivery on the holder (shadow verbs 21) is released when its
// hold runs out unless a later answer renewed or settled it. That answer
// comes at the holders' next probe, every shadow_heartbeat_timeout
// (shadow.Holders, Every). The hold was data_timeout + 2 ×
// command_timeout (a minute at least) alone, so with a heartbeat
// timeout longer than that — data_timeout 20s, command_timeout 10s and
// the default 300 s — every entry lapses before the next probe asks:
// the claim delivers the original (WARN "did not answer again in
// time", which is untrue: nobody asked) while the holder's attempt
// runs, or after it delivered and noted it: the duplicate version 21
// is there to prevent, with a holder that answers every probe.
func TestSRBusyHoldOutlastsNextProbe(t *testing.T) {
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.212:15010"},
			{Name: "hub-b", Role: routing.RoleHub, Site: "a", Address: "127.0.0.212:15011"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	const interval = 5 * time.Minute
	d, err := New(Config{Hostname: "hub-a.test", Routing: routing.NewTable(nil, nil), Resolver: &fakeDNS{},
		Topology: topo, LocalServer: "hub-a", ShadowServerID: "hub-a", ShadowRetriesRemote: 2, ShadowRetriesLocal: 2,
		CommandTimeout: 10 * time.Second, DataTimeout: 20 * time.Second, ShadowHeartbeatTimeout: interval})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	r := NewReceiptShadow(d, "db-a")
	defer r.Close()
	if h := r.busyHold(); h <= interval+receiptTry {
		t.Fatalf("an original is kept back %s after the answer, but the next answer comes only at the next probe, %s later (and its own bound, %s): released unasked",
			h, interval, receiptTry)
	}
}
