package main

import (
	"bytes"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/testsupport"
)

// killProxy stands between a shadow server and its primary. Once the
// primary has written a reply carrying discard notifications on some
// connection, the first bytes the shadow server sends after it on that
// connection — its next command, the primary's proof that it has them
// — are passed on and the shadow server is killed (kill -9) at once.
type killProxy struct {
	ln     *testsupport.Server
	target string
	once   sync.Once
	kill   func()
	killed chan struct{}
}

func startKillProxy(t *testing.T, target string) *killProxy {
	t.Helper()
	p := &killProxy{target: target, killed: make(chan struct{})}
	p.ln = testsupport.Serve(t, "127.0.0.1:0", func(c net.Conn) { go p.serve(c) })
	return p
}

func (p *killProxy) serve(c net.Conn) {
	defer c.Close()
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer up.Close()
	var mu sync.Mutex
	armed := false
	go func() {
		// primary → shadow server: arm on a reply listing notifications.
		buf := make([]byte, 64<<10)
		var tail []byte
		for {
			n, err := up.Read(buf)
			if n > 0 {
				tail = append(tail, buf[:n]...)
				if len(tail) > 4096 {
					tail = tail[len(tail)-4096:]
				}
				// (a session that asked for rollback marks gets " MARK=<n>"
				// after it: shadow verbs version 7)
				if bytes.Contains(tail, []byte("250-2.0.0 ")) && bytes.Contains(tail, []byte(" discard notifications")) {
					mu.Lock()
					armed = true
					mu.Unlock()
					tail = nil
				}
				if _, werr := c.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				c.Close()
				return
			}
		}
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := up.Write(buf[:n]); werr != nil {
				return
			}
			mu.Lock()
			fire := armed
			mu.Unlock()
			if fire {
				p.once.Do(func() { p.kill(); close(p.killed) })
			}
		}
		if err != nil {
			return
		}
	}
}

// F1: hub-b, the shadow server of hub-a's copies on receipt, is killed
// (kill -9) the moment it sends the command after a reply carrying
// discard notifications — the moment hub-a forgets them. Restarted on the
// same database, hub-b must drop those copies: it committed the drop
// before it sent that command (or, killed before, finds the
// notifications at hub-a again). Before, the watch session sent its next
// WAIT= while the drop was still being committed, and the copies stayed
// until they expired and were delivered a second time.
func TestShadowServerKilledAfterDiscardReply(t *testing.T) {
	dir := t.TempDir()
	a, b, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.2"), freeAddr(t, "127.0.0.1")
	proxy := startKillProxy(t, a)
	topoPath := twoSiteTopology(t, dir, proxy.ln.Addr(), b, sinkAddr, "hub-a", "hub-b")
	cfgA, _ := orgHub(t, dir, "hub-a", a, topoPath, shadowOnReceipt("prefer-remote", true), "")
	translated(t, cfgA) // its peers reach it through the proxy
	cfgB, _ := orgHub(t, dir, "hub-b", b, topoPath, "0s", "")
	sink := startRecorder(t, sinkAddr)
	hb := startUmbra(t, cfgB, b)
	proxy.kill = hb.kill
	ha := startUmbra(t, cfgA, a)
	acked := sendMany(a, "dk", 8, 1, nil)
	if len(acked) == 0 {
		ha.dumpLog()
		t.Fatal("nothing acknowledged")
	}
	select {
	case <-proxy.killed:
	case <-time.After(30 * time.Second):
		hb.dumpLog()
		t.Fatal("hub-b never received a discard notification")
	}
	waitArrived(t, sink, acked, ha)
	startUmbra(t, cfgB, b)
	p := &shadowPair{}
	waitCond(t, "hub-b, restarted, to drop the copies of the delivered messages", 30*time.Second, func() bool {
		s, pending := p.held(t, cfgB, "hub-a")
		return s == 0 && pending == 0
	})
	for s, n := range sink.counts() {
		if n != 1 {
			t.Errorf("%s arrived %d times", s, n)
		}
	}
}

// translated marks the server of the configuration at path as reached
// through address translation (server.address_translated): its topology
// address is a proxy's, which no binding of its own listens on.
func translated(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), "server: {", "server: {address_translated: true, ", 1)
	if s == string(b) {
		t.Fatal("no server section to mark")
	}
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}
