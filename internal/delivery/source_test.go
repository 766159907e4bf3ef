package delivery

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/routing"
)

// peerLog records the remote IP of every connection a listener accepts.
type peerLog struct {
	net.Listener
	mu  sync.Mutex
	ips []string
}

func (l *peerLog) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		ip, _, _ := net.SplitHostPort(c.RemoteAddr().String())
		l.mu.Lock()
		l.ips = append(l.ips, ip)
		l.mu.Unlock()
	}
	return c, err
}

func (l *peerLog) seen() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.ips...)
}

// startPeerSink is a sink whose listener records peers' addresses.
func startPeerSink(t *testing.T) (*sink, *peerLog) {
	t.Helper()
	s := &sink{t: t, answers: map[string]error{}, dataErr: map[string]error{}}
	s.srv = gosmtp.NewServer(gosmtp.BackendFunc(func(c *gosmtp.Conn) (gosmtp.Session, error) {
		return &sinkSession{s: s, c: c}, nil
	}))
	s.srv.Domain, s.srv.ErrorLog = "sink.test", nopLog{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pl := &peerLog{Listener: ln}
	s.addr = ln.Addr().String()
	go s.srv.Serve(pl)
	t.Cleanup(func() { s.srv.Close() })
	return s, pl
}

// Outbound source address: a send connector's source_address, else the
// server's, is the address the next hop sees; relays inside the
// organisation use the server's.
func TestOutboundSourceAddress(t *testing.T) {
	s, peers := startPeerSink(t)
	sc := config.SendConnector{Name: "out", AddressSpaces: []config.AddressSpace{{Domain: "*", Cost: 1}},
		SmartHosts: []string{s.addr}, TLS: config.TLSNone, Port: 25}
	deliver := func(server string, sc config.SendConnector) {
		t.Helper()
		table := routing.NewTable(nil, []routing.Connector{{Name: sc.Name, Enabled: true,
			AddressSpaces: []routing.AddressSpace{{Domain: "*", Cost: 1}}}})
		d, err := New(Config{Hostname: "umbra.test", Routing: table, SendConnectors: []config.SendConnector{sc},
			SourceAddress: server, ConnectTimeout: 2 * time.Second, CommandTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		m := message("x@anywhere.example")
		if res := d.Deliver(context.Background(), m, body, all(m)); res[0].Outcome != queue.RelayedOK {
			t.Fatalf("%+v", res)
		}
	}
	deliver("127.0.0.3", sc) // the server's address
	sc.SourceAddress = "127.0.0.4"
	deliver("127.0.0.3", sc) // the connector's wins
	deliver("", sc)
	if got := peers.seen(); len(got) != 3 || got[0] != "127.0.0.3" || got[1] != "127.0.0.4" || got[2] != "127.0.0.4" {
		t.Fatalf("peer saw %v, want [127.0.0.3 127.0.0.4 127.0.0.4]", got)
	}

	// Inside the organisation: the server's address.
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}, {Name: "b"}},
		Links: []routing.SiteLink{{Name: "a-b", Sites: []string{"a", "b"}, Cost: 1}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.1:1"},
			{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: s.addr}},
		Connectors: []routing.SendConnector{{Name: "out", AddressSpaces: []routing.AddressSpace{{Domain: "*", Cost: 1}},
			SourceServers: []string{"hub-b"}, Enabled: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	table := routing.NewTable(nil, nil)
	d, err := New(Config{Hostname: "hub-a", Routing: table, Topology: topo, LocalServer: "hub-a", SourceAddress: "127.0.0.5",
		ConnectTimeout: 2 * time.Second, CommandTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	m := message("x@anywhere.example")
	if res := d.Deliver(context.Background(), m, body, all(m)); res[0].Outcome != queue.RelayedOK {
		t.Fatalf("relay: %+v", res)
	}
	if got := peers.seen(); len(got) != 4 || got[3] != "127.0.0.5" {
		t.Fatalf("relay inside the organisation from %v, want 127.0.0.5", got)
	}
}

// An address this host does not have fails New (the start), not every
// delivery.
func TestOutboundSourceAddressMustExist(t *testing.T) {
	_, err := New(Config{Hostname: "umbra.test", Routing: routing.NewTable(nil, nil), SourceAddress: "192.0.2.55"})
	if err == nil {
		t.Fatal("a source address the host does not have was accepted")
	}
}
