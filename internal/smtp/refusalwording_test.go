package smtp

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"umbra/internal/routing"
)

// rt21a L1: the holder's WARN for an XSHADOW naming no server of its
// topology said "not a server of the topology" while its reply said
// "not a server of the organisation": one refusal, one wording, so that
// the primary's log (which shows the reply) and the holder's match.
func TestUnknownServerIDRefusalWordedAsReply(t *testing.T) {
	topo, err := routing.NewTopology(routing.TopologyInput{Sites: []routing.Site{{Name: "s1"}},
		Servers: []routing.Server{{Name: "edge7", Role: routing.RoleEdge, Site: "s1", Address: "127.0.0.2:25"}}})
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: transportConnector(t, "    externally_secured: true\n"), Routing: testTable(),
		Queue: &fakeQueue{}, Shadow: &fakeShadow{}, ShadowEnabled: true, Log: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	s.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	s.SetServers(topo)
	d := dial(t, s, "127.0.0.4")
	d.expect("220")
	d.cmd("EHLO c", "250")
	reply := d.cmd("XSHADOW nobody", "550 5.7.1")
	d.cmd("QUIT", "221")
	if !strings.Contains(reply, "not a server of the organisation") {
		t.Fatalf("reply %q", reply)
	}
	if got := logs.lines(`msg="shadow session refused"`); len(got) != 1 || !strings.Contains(got[0], `reason="server id is not a server of the organisation"`) {
		t.Fatalf("holder's log does not say what its reply says: %q", got)
	}
}
