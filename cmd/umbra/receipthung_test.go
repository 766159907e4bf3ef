package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/testsupport"
)

// hangingProxy forwards connections to target until hang is set; from
// then on it forwards nothing more on any connection (a peer stopped
// with SIGSTOP: its sockets stay open, nothing answers) and accepts new
// connections without ever answering them. With hold set (before hang),
// what the open connections carry meanwhile is kept rather than dropped,
// and release forwards it and ends the hang: the stopped peer resumed,
// reading what its sockets buffered — a push its sender gave up on
// included.
//
// With cut set, an answer of target that carries a copy's reply
// ("Shadow copy …") is not forwarded: both connections are reset
// instead (a peer killed after the commit that kept the copy, before
// its reply reached the sender). With cutN positive (cut unset), only
// the next cutN such answers are cut: the sender's pushes after them go
// through. With cutBatch set too, only an answer to a batch (several
// copies' lines) counts. With delayNext set (a time.Duration), the
// next connection is passed on to target only after it: what its client
// sends reaches target that much later.
//
// With swallow set, such an answer is not forwarded, nor anything
// target answers on that connection after it, and both connections stay
// open: the replies to a push target kept are lost on the way back,
// and the sender waits for them until its bound.
type hangingProxy struct {
	delayNext atomic.Int64
	hang      atomic.Bool
	cut       atomic.Bool
	cutN      atomic.Int32
	cutBatch  atomic.Bool
	cuts      atomic.Int32 // answers cut so far
	swallow   atomic.Bool
	hold      bool
	mu        sync.Mutex
	up        []net.Conn // the connections to target, closed when the test ends
	kept      []keptBytes
	back      strings.Builder // what target answered on any connection
}

// keptBytes is what one connection carried towards to during a held hang.
type keptBytes struct {
	to net.Conn
	b  []byte
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
		pass := func() {
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				return
			}
			p.mu.Lock()
			p.up = append(p.up, u)
			p.mu.Unlock()
			go p.pipe(c, u, false)
			go p.pipe(u, c, true)
		}
		if d := time.Duration(p.delayNext.Swap(0)); d > 0 {
			go func() { time.Sleep(d); pass() }()
			return
		}
		pass()
	})
	return p
}

// pipe copies from to to; back: from is target (its answers are noted).
func (p *hangingProxy) pipe(from, to net.Conn, back bool) {
	buf := make([]byte, 32<<10)
	for {
		n, err := from.Read(buf)
		if n > 0 {
			p.mu.Lock() // a write after release comes after what release forwards
			if back {
				p.back.Write(buf[:n])
			}
			if back && p.swallow.Load() && bytes.Contains(buf[:n], []byte("Shadow copy")) {
				p.mu.Unlock()
				io.Copy(io.Discard, from) // read on, answer nothing: the connection stays open
				return
			}
			if back && (p.cut.Load() || p.cutN.Load() > 0 && (!p.cutBatch.Load() || bytes.Count(buf[:n], []byte("Shadow copy")) > 1)) &&
				bytes.Contains(buf[:n], []byte("Shadow copy")) {
				if !p.cut.Load() {
					p.cutN.Add(-1)
				}
				p.cuts.Add(1)
				p.mu.Unlock()
				for _, c := range []net.Conn{from, to} {
					if tc, ok := c.(*net.TCPConn); ok {
						tc.SetLinger(0) // the close sends a reset
					}
					c.Close()
				}
				return
			}
			var werr error
			switch {
			case !p.hang.Load():
				_, werr = to.Write(buf[:n])
			case p.hold:
				p.kept = append(p.kept, keptBytes{to, bytes.Clone(buf[:n])})
			}
			p.mu.Unlock()
			if werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// drop forgets what a held hang kept and ends the hang: the stopped peer
// died before reading it, or the session broke on the way.
func (p *hangingProxy) drop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.kept = nil
	p.hang.Store(false)
}

// release forwards what a held hang kept, in order, and ends the hang.
func (p *hangingProxy) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, k := range p.kept {
		k.to.Write(k.b)
	}
	p.kept = nil
	p.hang.Store(false)
}

// quits counts the sessions target ended at a QUIT (its 221) so far, on
// every connection: a probe that ran to its end.
func (p *hangingProxy) quits() int {
	return strings.Count("\n"+p.answers(), "\n221 ")
}

// answers is what target sent back so far, on every connection.
func (p *hangingProxy) answers() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.back.String()
}

// hungPeerOrg is hub-a and hub-c (site a) and hub-b (site b), each of
// which may send to the sink (reserved: started by the test, if at all)
// through connector "out". hub-a copies on receipt, the other site
// first; it reaches hub-b only through a hanging proxy (hub-b's address
// is translated), while hub-b reaches hub-a directly (its heartbeats and
// discard queries). All three are running, hub-a's /metrics served at
// metricsA.
type hungPeerHubs struct {
	a, b, c, sink, metricsA string
	cfgA, cfgB, cfgC, dataC string
	ha, hb, hc              *daemon
	proxy                   *hangingProxy
}

func hungPeerOrg(t *testing.T) *hungPeerHubs {
	t.Helper()
	return hungPeerOrgAt(t, freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.2"), freeAddr(t, "127.0.0.3"), freeAddr(t, "127.0.0.4"),
		reserveAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1"))
}

// hungPeerOrgAt is hungPeerOrg with the addresses given: the hubs',
// the proxy's in front of hub-b, the sink's and hub-a's metrics'.
func hungPeerOrgAt(t *testing.T, a, b, c, proxyAddr, sink, metricsA string) *hungPeerHubs {
	t.Helper()
	dir := t.TempDir()
	o := &hungPeerHubs{a: a, b: b, c: c, sink: sink}
	topo := fmt.Sprintf(`sites: [{name: a}, {name: b}]
site_links: [{name: a-b, sites: [a, b], cost: 10}]
servers:
  - {name: hub-a, role: hub, site: a, address: %q, source_addresses: [127.0.0.1]}
  - {name: hub-b, role: hub, site: b, address: %q, source_addresses: [127.0.0.1]}
  - {name: hub-c, role: hub, site: a, address: %q, source_addresses: [127.0.0.1]}
send_connectors:
  - {name: out, address_spaces: [{domain: "*", cost: 1}], source_servers: [hub-a, hub-b, hub-c], smart_hosts: [%q]}
`, o.a, proxyAddr, o.c, o.sink)
	topoPath := filepath.Join(dir, "topology.yaml")
	if err := os.WriteFile(topoPath, []byte(topo), 0o600); err != nil {
		t.Fatal(err)
	}
	o.cfgA, _ = orgHub(t, dir, "hub-a", o.a, topoPath, shadowOnReceipt("prefer-remote", false), "")
	o.metricsA = metricsA
	editConfig(t, o.cfgA, `metrics_listen: ""`, "metrics_listen: "+metricsA)
	// hub-a's takeover bound for its holders (60 s, not 3 s): a hang
	// lasts the push's bound (10 s) and more, and a probe of hub-b opened
	// during it stays unanswered for its own 10 s after the hang ends;
	// with 3 s, hub-b's copies were taken as lost or not depending on
	// when hub-a's probes fell (CI run 135). The tests here are about the
	// pushes and discards to a hung holder; a holder silent for the
	// bound is TestSR6HolderDownForTheTakeoverBoundIsShownLost's.
	editConfig(t, o.cfgA, "shadow_heartbeat_retry_count: 3", "shadow_heartbeat_retry_count: 60")
	o.cfgB, _ = orgHub(t, dir, "hub-b", o.b, topoPath, "0s", "")
	raw, _ := os.ReadFile(o.cfgB) // hub-b is reached through the proxy
	patched := strings.Replace(string(raw), `metrics_listen: ""}`, `metrics_listen: "", address_translated: true}`, 1)
	if patched == string(raw) {
		t.Fatal("orgHub's server line changed: cannot mark hub-b's address translated")
	}
	os.WriteFile(o.cfgB, []byte(patched), 0o600)
	o.cfgC, o.dataC = orgHub(t, dir, "hub-c", o.c, topoPath, "0s", "")
	o.hb = startUmbra(t, o.cfgB, o.b)
	o.hc = startUmbra(t, o.cfgC, o.c)
	o.ha = startUmbra(t, o.cfgA, o.a)
	o.ha.dumpLogIfFailed()
	o.hb.dumpLogIfFailed()
	o.hc.dumpLogIfFailed()
	o.proxy = startHangingProxy(t, proxyAddr, o.b)
	return o
}

// rt43 observation 1: a shadow server that took this server's session
// for copies on receipt and then hangs (SIGSTOP) is not tried again on a
// new session after the push's bound ran out: the copy goes to the next
// candidate of the preference within the same receipt, and the sender's
// 250 names it instead of ", no shadow copy".
func TestReceiptCopyMovesOnFromHungPeer(t *testing.T) {
	t.Parallel()
	o := hungPeerOrg(t)
	// The first copy goes to hub-b (the other site first); its session
	// is kept for the next copy.
	if reply := rawSend(t, o.a, "a@example.org", []string{"x@remote.example"}, "Subject: first\r\n\r\nhello"); !strings.Contains(reply, "shadow copy on hub-b") {
		t.Fatalf("first reply %q: want a copy on hub-b", reply)
	}
	o.proxy.hang.Store(true)
	reply := rawSend(t, o.a, "a@example.org", []string{"x@remote.example"}, "Subject: second\r\n\r\nhello")
	if !strings.HasPrefix(reply, "250") || !strings.Contains(reply, "shadow copy on hub-c") {
		t.Fatalf("reply %q with hub-b hung: want the copy on hub-c", reply)
	}
}
