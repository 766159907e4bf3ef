package delivery

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"umbra/internal/routing"
)

// SR-1, SR-5 (rt27a F4): the topology's address of a holder is a
// connector of it that offers no XSHADOW to transport servers (its
// internet connector). The probe fails with "peer does not offer
// XSHADOW", which was logged nowhere above DEBUG while the holder's
// peers took its copies over. It is a WARN, as a refused probe is: once
// per state, not at every probe.
func TestProbeWithoutXShadowWarnsOnce(t *testing.T) {
	addr := scriptedPeerLines(t, "250-holder.test\r\n250 8BITMIME\r\n", func(line string) string {
		if strings.ToUpper(line) == "QUIT" {
			return "221 bye\r\n"
		}
		return "500 5.5.1 unknown command\r\n"
	})
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.1:25"},
			{Name: "edge-b", Role: routing.RoleEdge, Site: "a", Address: addr}},
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Hostname: "hub-a.test", Routing: routing.NewTable(nil, nil), Resolver: &fakeDNS{},
		Topology: topo, LocalServer: "hub-a", ShadowServerID: "hub-a", ShadowRetriesRemote: 2, ShadowRetriesLocal: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var logs logBuffer
	d.log = slog.New(slog.NewTextHandler(&logs, nil))
	r := NewReceiptShadow(d, "db-a").WithHolders(&takenDoneHolders{})
	defer r.Close()
	for i := 0; i < 3; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := r.Probe(ctx, "edge-b")
		cancel()
		if err == nil {
			t.Fatalf("probe %d of a holder offering no XSHADOW: no error", i)
		}
	}
	out := logs.String()
	n := 0
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "level=WARN") && strings.Contains(line, "does not offer XSHADOW") && strings.Contains(line, "edge-b") {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d WARNs naming edge-b and \"does not offer XSHADOW\" for 3 probes, want 1:\n%s", n, out)
	}
}
