package main

import (
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

// oneway49IP is the loopback address of the oneway49 daemons (ports
// 4000-4999: addrInRange).
const oneway49IP = "127.0.0.194"

// refusingProxy stands at a server's topology address: it passes each
// connection to target, or closes it at accept while refuse is set (the
// peer's sessions fail at their greeting: EOF).
type refusingProxy struct {
	refuse  atomic.Bool
	refused atomic.Int64
	mu      sync.Mutex
	open    []net.Conn
}

// refuseAll closes the connections passed so far and refuses the next
// ones: the link fails this way from now on.
func (p *refusingProxy) refuseAll() {
	p.refuse.Store(true)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.open {
		c.Close()
	}
	p.open = nil
}

func startRefusingProxy(t *testing.T, addr, target string) *refusingProxy {
	t.Helper()
	p := &refusingProxy{}
	testsupport.Serve(t, addr, func(c net.Conn) {
		if p.refuse.Load() {
			p.refused.Add(1)
			c.Close()
			return
		}
		u, err := net.Dial("tcp", target)
		if err != nil {
			c.Close()
			return
		}
		p.mu.Lock()
		p.open = append(p.open, c, u)
		p.mu.Unlock()
		go func() { io.Copy(u, c); u.Close(); c.Close() }()
		go func() { io.Copy(c, u); c.Close(); u.Close() }()
	})
	return p
}

// topoAddr is name's topology address: the proxy's when it stands
// behind it, else its own.
func topoAddr(behind, name, proxy, own string) string {
	if behind == name || behind == "both" {
		return proxy
	}
	return own
}

// translateAddr marks the server of cfg reached through a proxy.
func translateAddr(t *testing.T, cfg string) {
	t.Helper()
	raw, _ := os.ReadFile(cfg)
	patched := strings.Replace(string(raw), `metrics_listen: ""}`, `metrics_listen: "", address_translated: true}`, 1)
	if patched == string(raw) {
		t.Fatal("orgHub's server line changed: cannot mark the address translated")
	}
	os.WriteFile(cfg, []byte(patched), 0o600)
}

// onewayHubs: hub-a and hub-b in one site; hub-a's topology address is
// the proxy (its connections from hub-b can be refused there), hub-b's
// its own. hub-a's client connector makes copies on receipt.
type onewayHubs struct {
	a, b, sink string
	cfgA, cfgB string
	ha, hb     *daemon
	proxy      *refusingProxy
	proxyB     *refusingProxy // behind "both": hub-b's
}

func onewayOrg(t *testing.T) *onewayHubs {
	return onewayOrgOf(t, "hub-a", "[hub-a, hub-b]", shadowOnReceipt("prefer-remote", false))
}

// onewayOrgOf is onewayOrg with the proxy in front of behind (hub-a or
// hub-b), the sink's connector sourced on sources, and hub-a's
// connector's ackDelay argument of orgHub.
func onewayOrgOf(t *testing.T, behind, sources, ackA string) *onewayHubs {
	t.Helper()
	seen := map[string]bool{}
	var in []string
	for try := 0; len(in) < 5 && try < 600; try++ {
		if a := addrInRange(t, oneway49IP, 4000, 1000); !seen[a] {
			seen[a] = true
			in = append(in, a)
		}
	}
	if len(in) < 5 {
		t.Fatalf("%d distinct free addresses on %s, want 5", len(in), oneway49IP)
	}
	o := &onewayHubs{a: in[0], b: in[1], sink: in[3]}
	proxyAddr, proxyB := in[2], in[4]
	bProxy := proxyAddr // hub-b's proxy: the one proxy, or its own with both behind
	if behind == "both" {
		bProxy = proxyB
	}
	dir := t.TempDir()
	topo := fmt.Sprintf(`sites: [{name: a}]
servers:
  - {name: hub-a, role: hub, site: a, address: %q, source_addresses: [127.0.0.1]}
  - {name: hub-b, role: hub, site: a, address: %q, source_addresses: [127.0.0.1]}
send_connectors:
  - {name: out, address_spaces: [{domain: "*", cost: 1}], source_servers: %s, smart_hosts: [%q]}
`, topoAddr(behind, "hub-a", proxyAddr, o.a), topoAddr(behind, "hub-b", bProxy, o.b), sources, o.sink)
	topoPath := filepath.Join(dir, "topology.yaml")
	if err := os.WriteFile(topoPath, []byte(topo), 0o600); err != nil {
		t.Fatal(err)
	}
	o.cfgA, _ = orgHub(t, dir, "hub-a", o.a, topoPath, ackA, "")
	o.cfgB, _ = orgHub(t, dir, "hub-b", o.b, topoPath, "0s", "")
	if behind == "both" {
		// hub-a at proxyAddr, hub-b at proxyB: both ways cut together.
		o.proxyB = startRefusingProxy(t, proxyB, o.b)
		translateAddr(t, o.cfgB)
		behind = "hub-a"
	}
	cfg, target := o.cfgA, o.a
	if behind == "hub-b" {
		cfg, target = o.cfgB, o.b
	}
	translateAddr(t, cfg)
	o.proxy = startRefusingProxy(t, proxyAddr, target)
	o.hb = startUmbra(t, o.cfgB, o.b)
	o.ha = startUmbra(t, o.cfgA, o.a)
	o.ha.dumpLogIfFailed()
	o.hb.dumpLogIfFailed()
	return o
}

// SR-17, SR-6 (partition49 F1, F2): hub-b cannot open any session to hub-a
// (its connections are closed at accept), hub-a reaches hub-b. hub-a
// accepts five messages with their copies on hub-b and delivers them at
// once; hub-b's watch and heartbeat cannot fetch the discards. hub-a,
// the primary, still reaches hub-b: it hands the discards over itself
// (XDISCARD) although its queue is empty now, hub-b holds nothing, and
// hub-a killed -9 after that leaves nothing to take over: each message
// arrives once. hub-b took the five over and delivered them a second
// time, every run: hub-a's passes stopped with its queue empty.
func TestSR17OneWayLinkFailureDiscardsHandedByThePrimary(t *testing.T) {
	t.Parallel()
	o := onewayOrg(t)
	p := &shadowPair{}
	// hub-b watches hub-a once it holds a copy; the first one is made
	// with the link whole.
	if reply := rawSend(t, o.a, "a@example.org", []string{"x@remote.example"}, "Subject: whole49\r\n\r\nhello"); !strings.Contains(reply, "shadow copy on hub-b") {
		t.Fatalf("first reply %q: want a copy on hub-b", reply)
	}
	o.proxy.refuseAll()
	var subjects []string
	for i := range 5 {
		s := fmt.Sprintf("oneway49-%d", i)
		subjects = append(subjects, s)
		if reply := rawSend(t, o.a, "a@example.org", []string{"x@remote.example"}, "Subject: "+s+"\r\n\r\nhello"); !strings.Contains(reply, "shadow copy on hub-b") {
			t.Fatalf("reply %q with hub-b's sessions to hub-a refused: want a copy on hub-b (hub-a reaches it)", reply)
		}
	}
	// partition49 F2: hub-b's shadow list says it cannot reach hub-a,
	// hub-a reaches it, and no takeover comes while it does — not a
	// takeover forecast that moves on at every look and never comes.
	var list string
	waitCond(t, "hub-b's shadow list to say hub-a reaches it", 30*time.Second, func() bool {
		list, _ = cli(t, o.cfgB, "shadow", "list")
		return strings.Contains(list, "it reaches this server (its last session here") && strings.Contains(list, "(its session here)")
	})
	t.Logf("hub-b shadow list:\n%s", list)
	if !strings.Contains(list, "this server cannot reach it (") || !strings.Contains(list, "no takeover while it does") {
		t.Errorf("hub-b's shadow list %q: want why no takeover comes", list)
	}
	sink := startRecorder(t, o.sink)
	waitArrived(t, sink, append(subjects, "whole49"), o.ha)
	waitCond(t, "hub-b to hold no copy for hub-a", 30*time.Second, func() bool { s, k := p.held(t, o.cfgB, "hub-a"); return s == 0 && k == 0 })
	if o.proxy.refused.Load() == 0 {
		t.Fatal("no session of hub-b's to hub-a was refused: the test proves nothing")
	}
	o.ha.kill()
	time.Sleep(6 * time.Second) // past hub-b's takeover bound (3 × 1 s) and its delivery
	for _, s := range append(subjects, "whole49") {
		if k := sink.counts()[s]; k != 1 {
			t.Errorf("%s arrived %d times, want once", s, k)
		}
	}
	if s, k := p.held(t, o.cfgB, "hub-a"); s != 0 || k != 0 {
		t.Errorf("hub-b holds %d copies for hub-a (%d taken over); want none", s, k)
	}
}

// SR-3, SR-6 (partition49 F1, a relay's shadow copy): hub-a relays to
// hub-b (the sink's connector is hub-b's only) and keeps the shadow
// copies; hub-b cannot deliver yet. Then hub-a's sessions to hub-b are
// refused at accept (its watch and heartbeats cannot fetch the
// discards) while hub-b reaches hub-a. hub-b delivers and, its queue
// empty, still hands hub-a the discards itself: hub-a holds nothing, and
// hub-b killed -9 after that leaves it nothing to deliver again.
func TestSR3OneWayLinkFailureRelayDiscardsHandedByTheNextHop(t *testing.T) {
	t.Parallel()
	o := onewayOrgOf(t, "hub-b", "[hub-b]", "0s")
	p := &shadowPair{}
	var subjects []string
	for i := range 3 {
		s := fmt.Sprintf("relay49-%d", i)
		subjects = append(subjects, s)
		if reply := rawSend(t, o.a, "a@example.org", []string{"x@remote.example"}, "Subject: "+s+"\r\n\r\nhello"); !strings.HasPrefix(reply, "250") {
			t.Fatalf("reply %q: want the message accepted", reply)
		}
	}
	waitCond(t, "hub-a to hold the relayed messages' copies for hub-b", 30*time.Second, func() bool { s, _ := p.held(t, o.cfgA, "hub-b"); return s == 3 })
	o.proxy.refuseAll()
	sink := startRecorder(t, o.sink)
	waitArrived(t, sink, subjects, o.hb)
	waitCond(t, "hub-a to hold no copy for hub-b", 30*time.Second, func() bool { s, k := p.held(t, o.cfgA, "hub-b"); return s == 0 && k == 0 })
	if o.proxy.refused.Load() == 0 {
		t.Fatal("no session of hub-a's to hub-b was refused: the test proves nothing")
	}
	o.hb.kill()
	time.Sleep(6 * time.Second) // past hub-a's takeover bound (3 × 1 s) and its delivery
	for _, s := range subjects {
		if k := sink.counts()[s]; k != 1 {
			t.Errorf("%s arrived %d times, want once", s, k)
		}
	}
}

// SR-6 (partition49 F1, the other side): with the link cut both ways —
// no session of either server reaches the other — hub-b still takes
// hub-a's copies over after the takeover delay: the primary's probes,
// which now keep a holder it owes discards from taking over, reach it
// no more.
func TestSR6PartitionBothWaysStillTakesOver(t *testing.T) {
	t.Parallel()
	o := onewayOrgOf(t, "both", "[hub-a, hub-b]", shadowOnReceipt("prefer-remote", false))
	p := &shadowPair{}
	if reply := rawSend(t, o.a, "a@example.org", []string{"x@remote.example"}, "Subject: both49\r\n\r\nhello"); !strings.Contains(reply, "shadow copy on hub-b") {
		t.Fatalf("reply %q: want a copy on hub-b", reply)
	}
	o.proxy.refuseAll()
	o.proxyB.refuseAll()
	waitCond(t, "hub-b to take hub-a's copy over", 30*time.Second, func() bool { _, k := p.held(t, o.cfgB, "hub-a"); return k == 1 })
}
