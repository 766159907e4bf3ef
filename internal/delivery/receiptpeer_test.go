package delivery

import (
	"bufio"
	"context"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/routing"
)

// deadPeer accepts connections on addr and closes each at once (a hub
// whose daemon is gone behind a listening port); it counts them.
func deadPeer(t *testing.T, addr string) (string, *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var n atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			c.Close()
		}
	}()
	return ln.Addr().String(), &n
}

// shadowPeer is a hub that takes shadow sessions (XSHADOW, verbs
// version 3) on addr; it counts its sessions.
func shadowPeer(t *testing.T, addr string) (string, *atomic.Int32) {
	return fakePeer(t, addr, false)
}

// fakePeer is shadowPeer; with hang it answers nothing from MAIL on (a
// hub whose disk stalled, or a stopped process behind its socket).
func fakePeer(t *testing.T, addr string, hang bool) (string, *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var n atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				io.WriteString(c, "220 peer.test\r\n")
				for {
					l, err := r.ReadString('\n')
					if err != nil {
						return
					}
					switch cmd := strings.ToUpper(strings.TrimSpace(l)); {
					case strings.HasPrefix(cmd, "EHLO"):
						io.WriteString(c, "250-peer.test\r\n250-XSHADOW 3\r\n250 8BITMIME\r\n")
					case strings.HasPrefix(cmd, "XSHADOW"):
						io.WriteString(c, "250 peer-database-1\r\n")
					case hang && strings.HasPrefix(cmd, "MAIL"):
						io.Copy(io.Discard, r) // hung: never another reply
						return
					case cmd == "QUIT":
						io.WriteString(c, "221 bye\r\n")
						return
					default:
						io.WriteString(c, "250 ok\r\n")
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), &n
}

// SR-17 with three hubs: hub-a copies on receipt, prefer-remote, with
// retry budgets of 3. hub-b, the only server of the other site, is down;
// hub-c is in hub-a's site. The copy goes to hub-c after one try of
// hub-b (not three), and the next copy goes to hub-c without trying
// hub-b again: it failed recently (destination health).
func TestReceiptCopyMovesOffADeadPeer(t *testing.T) {
	bAddr, bTries := deadPeer(t, "127.0.0.2:0")
	cAddr, cSessions := shadowPeer(t, "127.0.0.3:0")
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}, {Name: "b"}},
		Links: []routing.SiteLink{{Name: "a-b", Sites: []string{"a", "b"}, Cost: 1}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.1:25"},
			{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: bAddr},
			{Name: "hub-c", Role: routing.RoleHub, Site: "a", Address: cAddr}},
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Hostname: "hub-a.test", Routing: routing.NewTable(nil, nil), Resolver: &fakeDNS{},
		Topology: topo, LocalServer: "hub-a", ShadowServerID: "hub-a", ShadowRetriesRemote: 3, ShadowRetriesLocal: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	r := NewReceiptShadow(d, "db-a")
	defer r.Close()
	for i := range 2 {
		link, err := r.Open(context.Background(), config.ShadowOnReceiptPreferRemote)
		if err != nil {
			t.Fatalf("copy %d: %v", i, err)
		}
		if link.Server() != "hub-c" {
			t.Fatalf("copy %d on %s, want hub-c", i, link.Server())
		}
		link.Done(false) // a new session for the next copy
	}
	if n := bTries.Load(); n != 1 {
		t.Errorf("the dead hub-b was tried %d times for 2 copies, want once", n)
	}
	if n := cSessions.Load(); n != 2 {
		t.Errorf("hub-c had %d sessions, want 2", n)
	}
}

// SR-17: a copy on receipt to a peer that hangs after taking the session
// fails within the bound of its tries (README: each try 10 s), so the
// sender gets its reply; before, the push waited on the session's data
// timeout (minutes) and the sender timed out and sent the message again.
func TestReceiptCopyToAHungPeerIsBounded(t *testing.T) {
	defer func(d time.Duration) { receiptTry = d }(receiptTry)
	receiptTry = 300 * time.Millisecond
	bAddr, _ := fakePeer(t, "127.0.0.2:0", true)
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.1:25"},
			{Name: "hub-b", Role: routing.RoleHub, Site: "a", Address: bAddr}},
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Hostname: "hub-a.test", Routing: routing.NewTable(nil, nil), Resolver: &fakeDNS{},
		Topology: topo, LocalServer: "hub-a", ShadowServerID: "hub-a", ShadowRetriesRemote: 1, ShadowRetriesLocal: 1,
		CommandTimeout: time.Hour, DataTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	r := NewReceiptShadow(d, "db-a")
	defer r.Close()
	link, err := r.Open(context.Background(), config.ShadowOnReceiptLocalOnly)
	if err != nil {
		t.Fatal(err)
	}
	m := &queue.Message{ID: 1, OrgID: "0123456789abcdef0123456789abcdef", From: "a@example.org",
		Rcpts: []queue.Recipient{{Addr: "b@example.net"}}}
	done := make(chan error, 1)
	go func() { done <- link.Push(context.Background(), m, queue.MemBody([]byte("Subject: x\r\n\r\nhi\r\n"))) }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a push to a hung peer succeeded")
		}
	case <-time.After(30 * time.Second): // a bound on the test: the push's data timeout is an hour
		t.Fatal("a push to a hung peer was not bounded by its tries")
	}
	link.Done(false)
}
