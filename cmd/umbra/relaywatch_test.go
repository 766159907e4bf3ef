package main

import (
	"bytes"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/testsupport"
)

// watchProxy stands between a shadow server and the next hop it relays
// to (the next hop's topology address is the proxy's). It tells the
// connections that carried a relay (a MAIL command) from the others and
// counts the long polls (XQUERYDISCARD … WAIT=) the next hop answered
// with discard notifications.
type watchProxy struct {
	ln     *testsupport.Server
	target string
	// cutWatch closes a connection at its first long poll, before the
	// next hop sees it: no watch session gets through (the hook that
	// holds them off).
	cutWatch bool

	mu           sync.Mutex
	relays       int // connections that carried a MAIL command
	relaysEnded  int // of them, ended
	polled       int // long polls answered with at least one notification
	relayQueried int // plain discard queries of relay connections answered with at least one
	cut          int // connections closed at their long poll (cutWatch)
}

func startWatchProxy(t *testing.T, listen, target string) *watchProxy {
	t.Helper()
	return startWatchProxyCutting(t, listen, target, false)
}

// startWatchProxyCutting is startWatchProxy; cutWatch holds every watch
// session off (watchProxy.cutWatch).
func startWatchProxyCutting(t *testing.T, listen, target string, cutWatch bool) *watchProxy {
	t.Helper()
	p := &watchProxy{target: target, cutWatch: cutWatch}
	p.ln = testsupport.Serve(t, listen, func(c net.Conn) { go p.serve(c) })
	return p
}

var answeredPoll = regexp.MustCompile(`250-2\.0\.0 [1-9][0-9]* discard notifications`)

func (p *watchProxy) serve(c net.Conn) {
	defer c.Close()
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer up.Close()
	var mu sync.Mutex
	waiting := false  // a WAIT= query is out on this connection
	querying := false // a plain XQUERYDISCARD is out on this connection
	relay := false
	defer func() {
		if relay {
			p.mu.Lock()
			p.relaysEnded++
			p.mu.Unlock()
		}
	}()
	go func() {
		// next hop → shadow server
		buf := make([]byte, 64<<10)
		for {
			n, err := up.Read(buf)
			if n > 0 {
				mu.Lock()
				if waiting && answeredPoll.Match(buf[:n]) {
					waiting = false
					p.mu.Lock()
					p.polled++
					p.mu.Unlock()
				}
				if querying && relay && answeredPoll.Match(buf[:n]) {
					querying = false
					p.mu.Lock()
					p.relayQueried++
					p.mu.Unlock()
				}
				mu.Unlock()
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
	var line []byte
	for {
		n, err := c.Read(buf)
		if n > 0 {
			line = append(line, buf[:n]...)
			for {
				i := bytes.Index(line, []byte("\r\n"))
				if i < 0 || len(line) > 4096 {
					break
				}
				cmd := strings.ToUpper(string(line[:i]))
				line = line[i+2:]
				mu.Lock()
				if strings.HasPrefix(cmd, "XQUERYDISCARD") && strings.Contains(cmd, "WAIT=") {
					if p.cutWatch {
						mu.Unlock()
						p.mu.Lock()
						p.cut++
						p.mu.Unlock()
						return // closed (the defers) before the next hop sees it
					}
					waiting = true
				} else if strings.HasPrefix(cmd, "XQUERYDISCARD") {
					querying = true
				}
				if strings.HasPrefix(cmd, "MAIL FROM:") && !relay {
					relay = true
					p.mu.Lock()
					p.relays++
					p.mu.Unlock()
				}
				mu.Unlock()
			}
			if len(line) > 4096 {
				line = nil // a message's body: no command in it matters here
			}
			if _, werr := up.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *watchProxy) counts() (relays, relaysEnded, polled int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.relays, p.relaysEnded, p.polled
}

// relayWatch is hub-a having relayed one message to hub-b (through a
// watch proxy that counts relay sessions and long polls) and holding its
// shadow copy there, with the outside sink down so that hub-b keeps the
// message; hub-a's heartbeats come every 300 s, so only a watch
// session's long poll brings the discard quickly.
type relayWatch struct {
	cfgA     string
	ha, hb   *daemon
	proxy    *watchProxy
	sinkAddr string
	subject  string
	p        *shadowPair
}

// startRelayWatch starts the pair on ip, ports base … base+4×span, and
// relays the message (Subject: subject) until hub-a holds its copy and
// the relay session ended.
func startRelayWatch(t *testing.T, ip string, base, span int, subject string) *relayWatch {
	t.Helper()
	dir := t.TempDir()
	a, b := addrInRange(t, ip, base, span), addrInRange(t, ip, base+span, span)
	proxyAddr, sinkAddr := addrInRange(t, ip, base+2*span, span), addrInRange(t, ip, base+3*span, span)
	proxy := startWatchProxy(t, proxyAddr, b)
	topoPath := twoSiteTopology(t, dir, a, proxyAddr, sinkAddr, "hub-b")
	cfgA, _ := orgHub(t, dir, "hub-a", a, topoPath, "0s", "")
	cfgB, _ := orgHub(t, dir, "hub-b", b, topoPath, "0s", "")
	translated(t, cfgB) // hub-a reaches it through the proxy
	slowHeartbeats(t, cfgA)
	w := &relayWatch{cfgA: cfgA, proxy: proxy, sinkAddr: sinkAddr, subject: subject, p: &shadowPair{}}
	w.hb = startUmbra(t, cfgB, b)
	w.ha = startUmbra(t, cfgA, a)
	w.ha.dumpLogIfFailed()

	// The sink is down: hub-b keeps the message, hub-a its copy.
	if r := rawSend(t, a, "a@example.org", []string{"b@remote.example"}, "Subject: "+subject+"\r\n\r\nhello"); !strings.HasPrefix(r, "250 ") {
		t.Fatalf("reply %q", r)
	}
	waitCond(t, "hub-a to hold its copy for hub-b", 30*time.Second, func() bool { return w.held(t) == 1 })
	waitCond(t, "the relay session to end", 30*time.Second, func() bool {
		relays, ended, _ := proxy.counts()
		return relays > 0 && ended == relays
	})
	return w
}

// held is the number of copies hub-a holds for hub-b.
func (w *relayWatch) held(t *testing.T) int {
	s, _ := w.p.held(t, w.cfgA, "hub-b")
	return s
}

// deliverOnLongPoll lets hub-b deliver now (the sink comes up) and checks
// that hub-a's copy was discarded by a long poll answered by hub-b, that
// the message arrived once, and, when relays is not negative, that no
// relay session came since (the discard did not come with a new
// hand-off).
func (w *relayWatch) deliverOnLongPoll(t *testing.T, relays int, since string) {
	t.Helper()
	sink := startRecorder(t, w.sinkAddr)
	waitArrived(t, sink, []string{w.subject}, w.hb)
	waitCond(t, "hub-a's copy to be discarded", 30*time.Second, func() bool { return w.held(t) == 0 })
	after, _, polled := w.proxy.counts()
	if polled == 0 {
		t.Fatal("the discard reached hub-a without a long poll answered by hub-b")
	}
	if relays >= 0 && after != relays {
		t.Fatalf("%d relays after the %s: the discard came with a new hand-off", after-relays, since)
	}
	if n := sink.counts()[w.subject]; n != 1 {
		t.Errorf("%s arrived %d times", w.subject, n)
	}
}

// SR-3 and SR-15 (rt39 F1): hub-a relays a message to hub-b in a shadow
// session without any sender waiting (no delayed acknowledgement) and
// keeps its shadow copy for hub-b. The relay session ends before hub-b
// can deliver; hub-a's heartbeats come every 300 s. When hub-b delivers,
// the discard must reach hub-a on a long poll of a watch session open to
// hub-b since the relay — not at the next heartbeat or session, which
// left a window of seconds in which a kill -9 of hub-b made hub-a take
// the copy over and deliver it a second time.
func TestRelayedCopyDiscardedOnWatchSessionLongPoll(t *testing.T) {
	t.Parallel()
	w := startRelayWatch(t, "127.0.0.191", 10500, 100, "rw-1")
	if s := w.held(t); s != 1 {
		t.Fatalf("hub-a holds %d copies for hub-b once the relay session ended, want 1 (hub-b could not deliver yet)", s)
	}
	w.deliverOnLongPoll(t, -1, "")
}

// SR-3 and SR-15 (watch40 item 1): hub-a holds its copy of a message it
// relayed to hub-b when it is killed (kill -9) and started again; hub-b
// delivers only after that. The urgency that opened a watch session at
// the hand-off was memory: the restarted hub-a must open one to hub-b
// for the copy it holds, and the discard must come on its long poll —
// not at the next heartbeat (300 s), which left the window in which a
// kill -9 of hub-b made hub-a take the copy over and deliver it again.
func TestRelayedCopyHeldAtRestartDiscardedOnWatchSession(t *testing.T) {
	t.Parallel()
	w := startRelayWatch(t, "127.0.0.124", 8500, 100, "rw-2")

	// hub-a restarts with the copy held; no further hand-off to hub-b.
	w.ha.kill()
	w.ha = startUmbra(t, w.cfgA, w.ha.smtp)
	w.ha.dumpLogIfFailed()
	w.heldOnceBeforeDelivery(t, "restart")
}

// SR-3 and SR-15 (rrwatch40, the reload half of watch40 item 1): hub-a
// holds its copy of a message it relayed to hub-b when its configuration
// is reloaded (SIGHUP, the heartbeat settings changed); hub-b delivers
// only after that. The copy held stays watched across the reload (the
// session the hand-off opened stays open; serve.go reload has every
// primary copies are held for made urgent again, shadow WatchHeld): the
// discard comes on a long poll of hub-b's — not at the next heartbeat
// (300 s), nor with a new hand-off — and the message is delivered once.
func TestRelayedCopyHeldAcrossReloadDiscardedOnWatchSession(t *testing.T) {
	t.Parallel()
	w := startRelayWatch(t, "127.0.0.217", 15800, 50, "rw-3")

	// hub-a reloads with the copy held.
	reloadDaemon(t, w.ha, func() { editConfig(t, w.cfgA, "shadow_heartbeat_timeout: 300s", "shadow_heartbeat_timeout: 299s") })
	w.heldOnceBeforeDelivery(t, "reload")
}

// heldOnceBeforeDelivery checks, after hub-a's restart or reload (since),
// that it still holds its copy and no long poll was answered yet, then
// lets hub-b deliver (deliverOnLongPoll) with no new relay session.
func (w *relayWatch) heldOnceBeforeDelivery(t *testing.T, since string) {
	t.Helper()
	if s := w.held(t); s != 1 {
		t.Fatalf("hub-a holds %d copies for hub-b after its %s, want 1", s, since)
	}
	relays, _, polled := w.proxy.counts()
	if polled != 0 {
		t.Fatalf("%d long polls answered before hub-b could deliver", polled)
	}
	w.deliverOnLongPoll(t, relays, since)
}
