package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"umbra/internal/testsupport"
)

// hangingProxy forwards connections to target until hang is set; from
// then on it forwards nothing more on any connection (a peer stopped
// with SIGSTOP: its sockets stay open, nothing answers) and accepts new
// connections without ever answering them.
type hangingProxy struct {
	hang atomic.Bool
	mu   sync.Mutex
	up   []net.Conn // the connections to target, closed when the test ends
}

func startHangingProxy(t *testing.T, addr, target string) *hangingProxy {
	t.Helper()
	p := &hangingProxy{}
	t.Cleanup(func() {
		p.mu.Lock()
		for _, u := range p.up {
			u.Close()
		}
		p.mu.Unlock()
	})
	testsupport.Serve(t, addr, func(c net.Conn) {
		if p.hang.Load() {
			return // accepted, never answered
		}
		u, err := net.Dial("tcp", target)
		if err != nil {
			c.Close()
			return
		}
		p.mu.Lock()
		p.up = append(p.up, u)
		p.mu.Unlock()
		go p.pipe(c, u)
		go p.pipe(u, c)
	})
	return p
}

func (p *hangingProxy) pipe(from, to net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := from.Read(buf)
		if n > 0 && !p.hang.Load() {
			if _, werr := to.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// rt43 observation 1: a shadow server that took this server's session
// for copies on receipt and then hangs (SIGSTOP) is not tried again on a
// new session after the push's bound ran out: the copy goes to the next
// candidate of the preference within the same receipt, and the sender's
// 250 names it instead of ", no shadow copy".
func TestReceiptCopyMovesOnFromHungPeer(t *testing.T) {
	dir := t.TempDir()
	a, b, c := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.2"), freeAddr(t, "127.0.0.3")
	proxyAddr := freeAddr(t, "127.0.0.4")
	sink := reserveAddr(t, "127.0.0.1")
	topo := fmt.Sprintf(`sites: [{name: a}, {name: b}]
site_links: [{name: a-b, sites: [a, b], cost: 10}]
servers:
  - {name: hub-a, role: hub, site: a, address: %q, source_addresses: [127.0.0.1]}
  - {name: hub-b, role: hub, site: b, address: %q, source_addresses: [127.0.0.1]}
  - {name: hub-c, role: hub, site: a, address: %q, source_addresses: [127.0.0.1]}
send_connectors:
  - {name: out, address_spaces: [{domain: "*", cost: 1}], source_servers: [hub-a], smart_hosts: [%q]}
`, a, proxyAddr, c, sink)
	topoPath := filepath.Join(dir, "topology.yaml")
	if err := os.WriteFile(topoPath, []byte(topo), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgA, _ := orgHub(t, dir, "hub-a", a, topoPath, shadowOnReceipt("prefer-remote", false), "")
	cfgB, _ := orgHub(t, dir, "hub-b", b, topoPath, "0s", "")
	raw, _ := os.ReadFile(cfgB) // hub-b is reached through the proxy
	patched := strings.Replace(string(raw), `metrics_listen: ""}`, `metrics_listen: "", address_translated: true}`, 1)
	if patched == string(raw) {
		t.Fatal("orgHub's server line changed: cannot mark hub-b's address translated")
	}
	os.WriteFile(cfgB, []byte(patched), 0o600)
	cfgC, _ := orgHub(t, dir, "hub-c", c, topoPath, "0s", "")
	hb := startUmbra(t, cfgB, b)
	hc := startUmbra(t, cfgC, c)
	ha := startUmbra(t, cfgA, a)
	ha.dumpLogIfFailed()
	hb.dumpLogIfFailed()
	hc.dumpLogIfFailed()
	proxy := startHangingProxy(t, proxyAddr, b)
	// The first copy goes to hub-b (the other site first); its session
	// is kept for the next copy.
	if reply := rawSend(t, a, "a@example.org", []string{"x@remote.example"}, "Subject: first\r\n\r\nhello"); !strings.Contains(reply, "shadow copy on hub-b") {
		t.Fatalf("first reply %q: want a copy on hub-b", reply)
	}
	proxy.hang.Store(true)
	reply := rawSend(t, a, "a@example.org", []string{"x@remote.example"}, "Subject: second\r\n\r\nhello")
	if !strings.HasPrefix(reply, "250") || !strings.Contains(reply, "shadow copy on hub-c") {
		t.Fatalf("reply %q with hub-b hung: want the copy on hub-c", reply)
	}
}
