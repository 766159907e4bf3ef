package smtp

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/routing"
)

// rt39 F3: a primary this server's topology no longer lists (reloaded
// without it) repeats its shadow session at every heartbeat, each
// refused "not a server of the organisation". The WARN was written at
// every refusal (17 lines in 34 s); it is paced as the other repeated
// shadow refusals are: one per anotherDatabaseLogEvery per source, the
// refusals between at DEBUG and counted on the next WARN.
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
	if w := warns(); len(w) != 1 || !strings.Contains(w[0], "server_id=h1") || !strings.Contains(w[0], "not a server of the organisation") {
		t.Fatalf("after 5 refused sessions: WARNs %q, want 1 naming h1 and the reason", w)
	}
	if d := logs.lines("level=DEBUG msg=\"shadow session refused\""); len(d) != 4 {
		t.Fatalf("the refusals after the WARN: %d DEBUG lines, want 4", len(d))
	}
	clk.Advance(anotherDatabaseLogEvery + time.Second)
	refuse(1)
	if w := warns(); len(w) != 2 || !strings.Contains(w[1], "refused_since_last_warning=4") {
		t.Fatalf("after the interval: WARNs %q, want a second one counting the 4 refusals not logged since", w)
	}
}
