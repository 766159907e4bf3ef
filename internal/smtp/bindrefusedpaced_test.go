package smtp

import (
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/routing"
)

// rt39 F3: a primary this server's topology no longer lists (reloaded
// without it) repeats its shadow session at every heartbeat, each
// refused "not a server of the organisation". The WARN was written at
// every refusal (17 lines in 34 s); it is paced: once a minute per
// stated name (departed42: the server turned away is named once a
// minute, "not in this server's topology"), the refusals between at
// DEBUG and counted on the next WARN.
func TestShadowSessionOfUnknownServerWarnedPaced(t *testing.T) {
	logs := &syncBuffer{}
	clk := clock.NewFake(time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC))
	s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: transportConnector(t, "    externally_secured: true\n"), Routing: testTable(),
		Queue: &fakeQueue{}, Shadow: &fakeShadow{notes: map[string][]string{}}, ShadowEnabled: true,
		Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	topo, err := routing.NewTopology(routing.TopologyInput{Sites: []routing.Site{{Name: "s1"}},
		Servers: []routing.Server{{Name: "hub2", Role: routing.RoleHub, Site: "s1", Address: "hub2.example.test:25"}}})
	if err != nil {
		t.Fatal(err)
	}
	s.SetServers(topo)
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	s.Serve()
	t.Cleanup(func() { ctx, cancel := contextWithTimeout(5 * time.Second); defer cancel(); s.Shutdown(ctx) })
	refuse := func(n int) {
		t.Helper()
		for i := 0; i < n; i++ { // a session per heartbeat
			d := dial(t, s, "127.0.0.191")
			d.expect("220")
			d.cmd("EHLO h1.test", "250")
			d.cmd("XSHADOW h1", "550 5.7.1 Server id is not a server of the organisation")
			d.cmd("QUIT", "221")
		}
	}
	warns := func() []string { return logs.lines("level=WARN") }

	refuse(5)
	if w := warns(); len(w) != 1 || !strings.Contains(w[0], "server_id=h1") || !strings.Contains(w[0], "not a server of the organisation") || !strings.Contains(w[0], "not in this server's topology") {
		t.Fatalf("after 5 refused sessions: WARNs %q, want 1 naming h1 and the reason", w)
	}
	if d := logs.lines("level=DEBUG msg=\"shadow session refused\""); len(d) != 4 {
		t.Fatalf("the refusals after the WARN: %d DEBUG lines, want 4", len(d))
	}
	clk.Advance(time.Minute + time.Second) // departed42: once a minute per stated name
	refuse(1)
	if w := warns(); len(w) != 2 || !strings.Contains(w[1], "refused_since_last_warning=4") {
		t.Fatalf("after the interval: WARNs %q, want a second one counting the 4 refusals not logged since", w)
	}
}

// rt39 F3 reread: the refusal log is bounded (maxLogKeys), and a source
// that sends shadow sessions under names the topology does not know
// chooses its keys. Reaching the bound must not start the pacing over
// for every key: an entry that was WARNed stays paced (its next refusal
// within anotherDatabaseLogEvery is not WARNed again), and the sources
// past the bound share one paced entry, so that a stream of new
// sources cannot write a WARN for each refusal.
func TestBindRefusalPacingSurvivesTheKeyBound(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC))
	l := newAnotherDBLog(clk)
	if warn, _ := l.refused("unknown\x00192.0.2.7"); !warn {
		t.Fatal("the first refusal of a source is not WARNed")
	}
	for i := 0; i < maxLogKeys; i++ {
		l.refused(fmt.Sprintf("unknown\x00198.%d.%d.%d", i>>16&255, i>>8&255, i&255))
	}
	if warn, _ := l.refused("unknown\x00192.0.2.7"); warn {
		t.Error("a source just WARNed is WARNed again once the log reached its bound of keys")
	}
	warns := 0
	for i := 0; i < 100; i++ {
		if warn, _ := l.refused(fmt.Sprintf("unknown\x00203.0.%d.%d", i>>8&255, i&255)); warn {
			warns++
		}
	}
	if warns > 1 {
		t.Errorf("100 new sources past the bound: %d WARNs, want at most 1 (one shared, paced entry)", warns)
	}
	if len(l.by) > maxLogKeys+1 {
		t.Errorf("%d keys kept, want at most %d", len(l.by), maxLogKeys+1)
	}
	// An interval on, the entries whose next refusal is WARNed anyway
	// make room: a new source is paced on its own again.
	clk.Advance(anotherDatabaseLogEvery)
	l.refused("unknown\x00192.0.2.99")
	if _, ok := l.by["unknown\x00192.0.2.99"]; !ok {
		t.Error("an interval after the bound was reached, a new source still shares the overflow entry")
	}
}

// rt39 F3 reread: a name the topology does not know is paced per source,
// and an IPv6 source per /64 (sourceKey, as every per-source refusal
// count): a host with a /64 has as many addresses as it wants, and
// keyed by the address each of its sessions was WARNed.
func TestShadowSessionOfUnknownServerPacedPerSlash64(t *testing.T) {
	logs := &syncBuffer{}
	clk := clock.NewFake(time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC))
	s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: transportConnector(t, "    externally_secured: true\n"), Routing: testTable(),
		Queue: &fakeQueue{}, Shadow: &fakeShadow{notes: map[string][]string{}}, ShadowEnabled: true,
		Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	topo, err := routing.NewTopology(routing.TopologyInput{Sites: []routing.Site{{Name: "s1"}},
		Servers: []routing.Server{{Name: "hub2", Role: routing.RoleHub, Site: "s1", Address: "hub2.example.test:25"}}})
	if err != nil {
		t.Fatal(err)
	}
	s.SetServers(topo)
	for i := 1; i <= 5; i++ {
		ss := &session{srv: s, ip: netip.MustParseAddr(fmt.Sprintf("2001:db8:0:1::%x", i)), log: s.log}
		if reply := ss.bindServerID("h1"); !strings.HasPrefix(reply, "550 5.7.1") {
			t.Fatalf("session %d: %q, want the refusal", i, reply)
		}
	}
	if w := logs.lines("level=WARN"); len(w) != 1 {
		t.Fatalf("5 refused sessions from one /64: WARNs %q, want 1", w)
	}
}
