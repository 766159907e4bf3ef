package queue

import (
	"context"
	"net"
	"testing"
	"time"
)

// addrTopo is a topology of servers at one address ("host:port") each,
// which says where they are (ServerAddresses).
type addrTopo map[string]string

func (t addrTopo) ServerAtHostPort(name, hostport string) (bool, bool) {
	a, ok := t[name]
	h1, _, err1 := net.SplitHostPort(hostport)
	h2, _, err2 := net.SplitHostPort(a)
	return ok, ok && err1 == nil && err2 == nil && h1 == h2
}

func (t addrTopo) ServerAddress(name string) (string, bool) { a, ok := t[name]; return a, ok }

func (t addrTopo) ServerWithAddress(hostport string) string {
	for n, a := range t {
		if a == hostport {
			return n
		}
	}
	return ""
}

func putPeers(t *testing.T, s *Store, peers ...*ShadowPeer) {
	t.Helper()
	if err := s.Update(context.Background(), func(tx *Tx) error {
		for _, p := range peers {
			if err := tx.PutPeer(p); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func peerAddrs(t *testing.T, s *Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	_ = s.View(func(tx *Tx) error {
		peers, _, err := tx.Peers()
		for _, p := range peers {
			out[p.Primary] = p.Addr
		}
		return err
	})
	return out
}

// SR-5, SR-3 (ident18 item 3): a reload that moves hub-b moves the
// records kept for it — under its server name and under the host name
// of the send connector it was reached through — to its new address;
// the connector's record still reaches hub-b (its pushed discards find
// it). hub-c, which did not move, keeps its record as it was.
func TestRecordsFollowMovedServer(t *testing.T) {
	s := openTest(t)
	q := NewManager(s, DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result { return nil }),
		ManagerConfig{RetrySchedule: []time.Duration{time.Hour}})
	now := time.Now()
	putPeers(t, s,
		&ShadowPeer{Primary: "hub-b", Addr: "127.0.0.2:25", DatabaseID: "db-b", LastContact: now},
		&ShadowPeer{Primary: "mx.hub-b.test", Addr: "127.0.0.2:25 via out", DatabaseID: "db-b", LastContact: now},
		&ShadowPeer{Primary: "hub-c", Addr: "127.0.0.3:25", DatabaseID: "db-c", LastContact: now})
	q.SetServers(addrTopo{"hub-b": "127.0.0.2:25", "hub-c": "127.0.0.3:25"})
	if got := peerAddrs(t, s); got["hub-b"] != "127.0.0.2:25" || got["mx.hub-b.test"] != "127.0.0.2:25 via out" {
		t.Fatalf("records moved without a move: %v", got)
	}
	q.SetServers(addrTopo{"hub-b": "127.0.0.5:2525", "hub-c": "127.0.0.3:25"})
	got := peerAddrs(t, s)
	if got["hub-b"] != "127.0.0.5:2525" || got["mx.hub-b.test"] != "127.0.0.5:2525 via out" || got["hub-c"] != "127.0.0.3:25" {
		t.Fatalf("records after hub-b moved: %v", got)
	}
	if names, err := q.primariesOf("hub-b", "db-b"); err != nil || len(names) != 2 {
		t.Fatalf("hub-b speaks for %v (%v); want its own record and the connector's", names, err)
	}
	// A restart with the new topology: nothing moves again.
	q.SetServers(addrTopo{"hub-b": "127.0.0.5:2525", "hub-c": "127.0.0.3:25"})
	if again := peerAddrs(t, s); again["hub-b"] != got["hub-b"] || again["mx.hub-b.test"] != got["mx.hub-b.test"] {
		t.Fatalf("records moved again: %v", again)
	}
}

// ident18 item 3: at start (the topology before unknown), a record under
// a server's own name reached directly follows the topology; one under
// a connector's host name stays (which server it was is not known).
func TestRecordsFollowServerAtStart(t *testing.T) {
	s := openTest(t)
	q := NewManager(s, DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result { return nil }),
		ManagerConfig{RetrySchedule: []time.Duration{time.Hour}})
	putPeers(t, s,
		&ShadowPeer{Primary: "hub-b", Addr: "127.0.0.2:25", DatabaseID: "db-b"},
		&ShadowPeer{Primary: "mx.hub-b.test", Addr: "127.0.0.2:25 via out", DatabaseID: "db-b"})
	q.SetServers(addrTopo{"hub-b": "127.0.0.5:2525"})
	if got := peerAddrs(t, s); got["hub-b"] != "127.0.0.5:2525" || got["mx.hub-b.test"] != "127.0.0.2:25 via out" {
		t.Fatalf("records at start: %v", got)
	}
}

// srcTopo is a topology whose servers have an address ("host:port", a
// host name or an IP address) and a source address (an IP its
// connections come from and its name resolves to, or ""), as a server
// listing its addresses in Sources.
type srcTopo map[string][2]string

func (t srcTopo) ServerAtHostPort(name, hostport string) (bool, bool) {
	s, ok := t[name]
	h, _, err := net.SplitHostPort(hostport)
	a, _, _ := net.SplitHostPort(s[0])
	return ok, ok && err == nil && (h == a || h == s[1])
}

func (t srcTopo) ServerAddress(name string) (string, bool) { s, ok := t[name]; return s[0], ok }

func (t srcTopo) ServerWithAddress(hostport string) string {
	for n, s := range t {
		if s[0] == hostport {
			return n
		}
	}
	return ""
}

// SR-5, rt18 ident18 review item 2: whether a record is at its server
// is the topology's one answer (ServerAtHostPort: the IP of its address
// or its Sources), not a comparison of text. A record at the IP of a
// server whose topology address is a host name is not moved at a start
// (it was, at every start, to be written back by the next copy); a
// reload that gives such a server another address moves it; a port
// changed while the server was down moves it at a start.
func TestRecordsStayAtServerNamedByHost(t *testing.T) {
	s := openTest(t)
	q := NewManager(s, DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result { return nil }),
		ManagerConfig{RetrySchedule: []time.Duration{time.Hour}})
	putPeers(t, s,
		&ShadowPeer{Primary: "hub-b", Addr: "127.0.0.2:25", DatabaseID: "db-b"},
		&ShadowPeer{Primary: "hub-c", Addr: "127.0.0.3:25", DatabaseID: "db-c"})
	start := srcTopo{"hub-b": {"hub-b.test:25", "127.0.0.2"}, "hub-c": {"127.0.0.3:2525", ""}}
	q.SetServers(start)
	if got := peerAddrs(t, s); got["hub-b"] != "127.0.0.2:25" || got["hub-c"] != "127.0.0.3:2525" {
		t.Fatalf("records at start: %v; want hub-b's kept (it is at hub-b), hub-c's at its new port", got)
	}
	q.SetServers(start) // a reload changing nothing
	if got := peerAddrs(t, s); got["hub-b"] != "127.0.0.2:25" {
		t.Fatalf("records after a reload changing nothing: %v", got)
	}
	q.SetServers(srcTopo{"hub-b": {"hub-b2.test:25", "127.0.0.6"}, "hub-c": {"127.0.0.3:2525", ""}})
	if got := peerAddrs(t, s); got["hub-b"] != "hub-b2.test:25" || got["hub-c"] != "127.0.0.3:2525" {
		t.Fatalf("records after a reload moving hub-b: %v; want hub-b's at hub-b2.test:25", got)
	}
}

// mendq19 5: the port of an address a record keeps is read by the one
// HOST[:PORT] parser (mailaddr.SplitHostPort): a bare IPv6 address has
// none — its last group is no port.
func TestPortOfReadsHostPortOnce(t *testing.T) {
	for in, want := range map[string]string{
		"::1": "", "[::1]": "", "[::1]:2525": "2525", "127.0.0.1:25": "25", "hub.test": "", "hub.test:25": "25", "[::1": "",
	} {
		if got := portOf(in); got != want {
			t.Errorf("portOf(%q) = %q, want %q", in, got, want)
		}
	}
}
