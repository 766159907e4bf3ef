package smtp

import (
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// transportNames is a ServerDirectory of transport servers by name, at
// any address.
type transportNames map[string]bool

func (d transportNames) ServerAt(name string, _ netip.Addr) (bool, bool) {
	return d[strings.ToLower(name)], d[strings.ToLower(name)]
}
func (d transportNames) IsServerAddress(netip.Addr) bool    { return len(d) > 0 }
func (d transportNames) Transport(name string) bool         { return d[strings.ToLower(name)] }
func (d transportNames) IsTransportAddress(netip.Addr) bool { return len(d) > 0 }

// SR-3, OPS-4 (front48 item 4): the pacing of the WARNs of a server
// presenting another server's database id is kept by that server's name
// — until a reload removes the server from the topology: its entries go
// then (every log keyed by the name of a server the topology has), and
// those of the servers the topology keeps stay.
func TestAnotherDatabasePacingDroppedWithItsServer(t *testing.T) {
	q := &ownersQueue{markQueue: markQueue{mark: 5}, owners: map[string]string{"dbB": "hub3"}}
	logs := &syncBuffer{}
	s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: transportConnector(t, ""), Routing: testTable(), Queue: q,
		Shadow: newPartialShadow(), ShadowEnabled: true, Log: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	s.Serve()
	t.Cleanup(func() { ctx, cancel := contextWithTimeout(5 * time.Second); defer cancel(); s.Shutdown(ctx) })
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2 MARK DB=dbB", "550 5.7.1")
	d.cmd("QUIT", "221")
	d.closed()
	if warn := logs.lines("another server's"); len(warn) != 1 {
		t.Fatalf("%d WARNs of the refusal, want 1: %q", len(warn), warn)
	}
	for _, l := range []*anotherDBLog{s.anotherDBs, s.fromOthers, s.addrRefusals} {
		l.refused("hub3") // a server the reload keeps
		l.refused("hub2")
	}
	s.SetServers(transportNames{"hub3": true}) // the reload removes hub2
	for i, l := range []*anotherDBLog{s.anotherDBs, s.fromOthers, s.addrRefusals} {
		l.mu.Lock()
		_, two := l.by["hub2"]
		_, three := l.by["hub3"]
		l.mu.Unlock()
		if two || !three {
			t.Errorf("log %d after the reload: hub2 kept %v (want false), hub3 kept %v (want true)", i, two, three)
		}
	}
}

// SR-3, OPS-4 (front48 item 4): the pacing of the WARN of a shadow
// session refused for stating a name the topology does not have
// (topologyRefused: once a minute per name) is kept by that name, which
// no topology holds: a reload — any reload sets the servers again — does
// not start it over, so a peer repeating its session every heartbeat is
// not WARNed of again at each reload.
func TestUnknownServerPacingOutlivesAReload(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: transportConnector(t, ""), Routing: testTable(), Queue: &fakeQueue{}, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	s.SetServers(transportNames{"hub3": true})
	if warn, _ := s.topoRefusals.refused("ghost"); !warn {
		t.Fatal("the first refusal of an unknown name is not WARNed")
	}
	s.SetServers(transportNames{"hub3": true}) // a reload, the topology as it was
	clk.Advance(time.Second)
	if warn, _ := s.topoRefusals.refused("ghost"); warn {
		t.Error("a refusal a second after the last WARN is WARNed again: the reload started the name's pacing over")
	}
}
