package delivery

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/routing"
	"umbra/internal/testsupport"
)

// faultHop is the shared hung-destination fixture: a next hop on
// loopback whose behaviour a recipient's local part picks — ddrop…
// closes the connection after the message's final dot, dhang… never
// answers the final dot (until the hop closes), rhang… never answers
// its RCPT (until the hop closes), rgate… has its RCPT answered when
// the test opens rcptGate, rrefuse… has its RCPT refused for
// now (450), pfail… for good (550), anything else is taken
// (250) — and which, while greetHang is set, accepts connections and
// never greets. It records every message taken, with its body.
type faultHop struct {
	ln        net.Listener
	mu        sync.Mutex
	greetHang bool
	// pipelining: its EHLO offers PIPELINING (RFC 2920).
	pipelining bool
	// maxRcpts > 0: RCPTs past that many in one transaction are refused
	// "452 4.5.3 too many recipients" (RFC 5321 §4.5.3.1.10).
	maxRcpts int
	// closeAfterData: the hop closes the connection after its 250 to a
	// message's final dot.
	closeAfterData bool
	// ehloHang: the hop greets and never answers EHLO.
	ehloHang bool
	// mailReply, when set, is the hop's reply to every MAIL (a 4xx of
	// its own, in a session it keeps open).
	mailReply string
	// no8bit: its EHLO offers no 8BITMIME.
	no8bit    bool
	taken     map[string][]string // recipient → bodies taken
	order     []string            // the recipients taken, in order
	conns     int
	dotsHung  int // final dots of dhang… messages read and left unanswered
	rcptsHung int // RCPTs of rhang… read and left unanswered
	// rcptGate: an RCPT of rgate… is answered (250) only when a value
	// is received from it; gated counts those read and waiting.
	rcptGate chan struct{}
	gated    int
	// dataGate, when set: the hop answers DATA (354) only when a value
	// is received from it; dataGated counts the DATAs read and waiting.
	dataGate  chan struct{}
	dataGated int
	closed    chan struct{}
}

func startFaultHop(t *testing.T, greetHang bool) *faultHop {
	t.Helper()
	return startFaultHopAt(t, "127.0.0.186:0", greetHang)
}

// startFaultHopAt is startFaultHop listening on addr.
func startFaultHopAt(t *testing.T, addr string, greetHang bool) *faultHop {
	t.Helper()
	h := &faultHop{ln: testsupport.Listen(t, addr), greetHang: greetHang, taken: map[string][]string{}, closed: make(chan struct{})}
	var wg sync.WaitGroup
	t.Cleanup(func() { close(h.closed); h.ln.Close(); wg.Wait() })
	go func() {
		for {
			c, err := h.ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); h.serve(c) }()
		}
	}()
	return h
}

// heal makes the hop greet from its next connection on.
func (h *faultHop) heal() {
	h.mu.Lock()
	h.greetHang = false
	h.mu.Unlock()
}

// takenOrder is the recipients the hop took, in order.
func (h *faultHop) takenOrder() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.order...)
}

func (h *faultHop) port() string { return portOf(h.ln.Addr().String()) }

// got is the bodies the hop took for rcpt.
func (h *faultHop) got(rcpt string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.taken[rcpt]...)
}

// connections is how many connections the hop accepted.
func (h *faultHop) connections() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.conns
}

func (h *faultHop) serve(c net.Conn) {
	defer c.Close()
	stop := context.AfterFunc(ctxOf(h.closed), func() { c.Close() })
	defer stop()
	h.mu.Lock()
	h.conns++
	hang, pipelining, maxRcpts, closeAfterData, ehloHang, mailReply, no8bit := h.greetHang, h.pipelining, h.maxRcpts, h.closeAfterData, h.ehloHang, h.mailReply, h.no8bit
	h.mu.Unlock()
	if hang {
		c.Read(make([]byte, 1)) // until the client gives up
		return
	}
	br := bufio.NewReader(c)
	say := func(l string) { fmt.Fprintf(c, "%s\r\n", l) }
	say("220 fault.test ESMTP")
	var rcpts []string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO") && ehloHang:
			<-h.closed // no reply to EHLO
			return
		case strings.HasPrefix(cmd, "EHLO"):
			say("250-fault.test")
			if pipelining {
				say("250-PIPELINING")
			}
			if no8bit {
				say("250 HELP")
				continue
			}
			say("250 8BITMIME")
		case strings.HasPrefix(cmd, "HELO"):
			say("250 fault.test")
		case strings.HasPrefix(cmd, "MAIL") && mailReply != "":
			rcpts = nil
			say(mailReply)
		case strings.HasPrefix(cmd, "MAIL"):
			rcpts = nil
			say("250 2.1.0 ok")
		case strings.HasPrefix(cmd, "RCPT"):
			to := strings.ToLower(strings.TrimSpace(line[len("RCPT TO:"):]))
			if maxRcpts > 0 && len(rcpts) >= maxRcpts {
				say("452 4.5.3 too many recipients")
				continue
			}
			rcpts = append(rcpts, strings.Trim(strings.Fields(to)[0], "<>"))
			if strings.HasPrefix(rcpts[len(rcpts)-1], "rrefuse") {
				rcpts = rcpts[:len(rcpts)-1]
				say("450 4.2.1 mailbox busy, try later")
				continue
			}
			if strings.HasPrefix(rcpts[len(rcpts)-1], "pfail") {
				rcpts = rcpts[:len(rcpts)-1]
				say("550 5.1.1 no such user here")
				continue
			}
			if strings.HasPrefix(rcpts[len(rcpts)-1], "rgate") {
				h.mu.Lock()
				h.gated++
				gate := h.rcptGate
				h.mu.Unlock()
				select {
				case <-gate:
				case <-h.closed:
					return
				}
			}
			if strings.HasPrefix(rcpts[len(rcpts)-1], "rhang") {
				h.mu.Lock()
				h.rcptsHung++
				h.mu.Unlock()
				<-h.closed // no reply to this RCPT
				return
			}
			say("250 2.1.5 ok")
		case cmd == "DATA":
			h.mu.Lock()
			gate := h.dataGate
			if gate != nil {
				h.dataGated++
			}
			h.mu.Unlock()
			if gate != nil {
				select {
				case <-gate:
				case <-h.closed:
					return
				}
			}
			say("354 go ahead")
			var b strings.Builder
			for {
				l, err := br.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(l)
			}
			switch {
			case len(rcpts) > 0 && strings.HasPrefix(rcpts[0], "ddrop"):
				return // the connection drops after this message's data
			case len(rcpts) > 0 && strings.HasPrefix(rcpts[0], "dhang"):
				h.mu.Lock()
				h.dotsHung++
				h.mu.Unlock()
				<-h.closed // no reply to this message's final dot
				return
			}
			h.mu.Lock()
			for _, r := range rcpts {
				h.taken[r] = append(h.taken[r], b.String())
				h.order = append(h.order, r)
			}
			h.mu.Unlock()
			say("250 2.0.0 queued")
			if closeAfterData {
				return
			}
		case cmd == "RSET" || cmd == "NOOP":
			say("250 2.0.0 ok")
		case cmd == "QUIT":
			say("221 2.0.0 bye")
			return
		default:
			say("502 5.5.2 unknown")
		}
	}
}

// ctxOf is a context done when ch closes.
func ctxOf(ch chan struct{}) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-ch; cancel() }()
	return ctx
}

// faultRig is a queue manager on a fake clock (t0: 2026-01-01)
// delivering every domain through one smart-host connector "remote" to
// a faultHop, with the connector's max_connections and the session
// timeouts given (real time: the hop's silence ends there), a retry
// step of 15 s, the expiry at 2 min and delay notices after notice.
type faultRig struct {
	*expiryRig
	hop  *faultHop
	home *faultHop // example.org's next hop: the DSNs to the sender
}

func startFaultRig(t *testing.T, hop *faultHop, maxConns int, cmdTimeout, dataTimeout, notice time.Duration) *faultRig {
	t.Helper()
	return startFaultRigOn(t, "127.0.0.186", "127.0.0.186:0", hop, maxConns, cmdTimeout, dataTimeout, notice)
}

// startFaultRigOn is startFaultRig with hop listening on ip and the
// sender's next hop (home) on homeAddr.
func startFaultRigOn(t *testing.T, ip, homeAddr string, hop *faultHop, maxConns int, cmdTimeout, dataTimeout, notice time.Duration) *faultRig {
	t.Helper()
	home := startFaultHopAt(t, homeAddr, false)
	conn := config.SendConnector{Name: "remote", AddressSpaces: []config.AddressSpace{{Domain: "*", Cost: 1}},
		SmartHosts: []string{ip + ":" + hop.port()}, TLS: config.TLSNone, MaxConnections: maxConns}
	homeConn := config.SendConnector{Name: "home", AddressSpaces: []config.AddressSpace{{Domain: "example.org", Cost: 1}},
		SmartHosts: []string{ip + ":" + home.port()}, TLS: config.TLSNone}
	table := routing.NewTable(nil, []routing.Connector{
		{Name: conn.Name, Enabled: true, AddressSpaces: []routing.AddressSpace{{Domain: "*", Cost: 1}}},
		{Name: homeConn.Name, Enabled: true, AddressSpaces: []routing.AddressSpace{{Domain: "example.org", Cost: 1}}}})
	d, err := New(Config{Hostname: "umbra.test", Routing: table, SendConnectors: []config.SendConnector{conn, homeConn},
		ConnectTimeout: 2 * time.Second, CommandTimeout: cmdTimeout, DataTimeout: dataTimeout})
	if err != nil {
		t.Fatal(err)
	}
	store, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := &expiryRig{store: store, d: d, t0: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), ev: &eventRecorder{}}
	r.clk = clock.NewFake(r.t0)
	r.q = queue.NewManager(store, d, queue.ManagerConfig{Hostname: "umbra.test", MaxActive: 8, Clock: r.clk, Events: r.ev,
		RetrySchedule: []time.Duration{15 * time.Second}, MessageExpiration: 2 * time.Minute, DelayNotification: notice,
		Scheduler: queue.SchedulerConfig{DeadCoolDown: 15 * time.Second}})
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.q.Start(r.ctx)
	t.Cleanup(func() { r.stop(func() { hop.ln.Close() }) })
	return &faultRig{expiryRig: r, hop: hop, home: home}
}

// submit queues one message from sender@example.org to rcpt.
func (r *faultRig) submit(t *testing.T, rcpt string, more ...string) queue.ID {
	t.Helper()
	m := &queue.Message{ID: r.q.NewID(), From: "sender@example.org", Arrived: r.clk.Now(), Rcpts: []queue.Recipient{{Addr: rcpt}}}
	for _, a := range more {
		m.Rcpts = append(m.Rcpts, queue.Recipient{Addr: a})
	}
	if err := r.q.Submit(r.ctx, m, []byte("Subject: "+rcpt+"\r\n\r\nhello\r\n")); err != nil {
		t.Fatal(err)
	}
	return m.ID
}

// waitEvent waits (bounded, real time: not a timing assertion) until an
// event starting with prefix was recorded.
func (r *faultRig) waitEvent(t *testing.T, prefix string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !r.ev.has(prefix) {
		if time.Now().After(deadline) {
			t.Fatalf("no event %q: %q", prefix, r.ev.events)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// countEvents is how many recorded events start with prefix.
func (r *faultRig) countEvents(prefix string) int {
	r.ev.mu.Lock()
	defer r.ev.mu.Unlock()
	n := 0
	for _, e := range r.ev.events {
		if strings.HasPrefix(e, prefix) {
			n++
		}
	}
	return n
}

// SPEC Q-6 (dead-destination detection with no head-of-line blocking;
// rt32d F2): a next hop that takes a message's data and then drops the
// connection, or never answers that message's final dot, failed that
// message, not the destination: the failures change neither its window
// nor its streak, so they never make it dead, and an ordinary message
// to the same healthy host is delivered on its first attempt — the
// fake clock never moves, so no cool-down or retry step is what lets it
// through. Before, four drops brought the window to 1, the hung message
// held the only slot for the data timeout, its failure declared the
// destination dead, and the ordinary message was answered "destination
// … is dead" (and with max_connections 1 the hung message alone made it
// dead) until it bounced at its expiry, never tried.
func TestQ6MessageFailureDoesNotKillDestination(t *testing.T) {
	for _, tc := range []struct {
		name     string
		maxConns int
		drops    int
	}{
		{"four drops then a hang, default window", 0, 4},
		{"a hang, max_connections 1", 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hop := startFaultHop(t, false)
			r := startFaultRig(t, hop, tc.maxConns, 5*time.Second, time.Second, time.Hour)
			for i := range tc.drops {
				r.submit(t, fmt.Sprintf("ddrop%d@remote.test", i))
			}
			for r.countEvents("defer 451 4.4.2") < tc.drops {
				r.waitEvent(t, "defer 451 4.4.2")
				time.Sleep(5 * time.Millisecond)
			}
			r.submit(t, "dhang@remote.test")
			ok := r.submit(t, "ok@remote.test")
			deadline := time.Now().Add(30 * time.Second) // a bound on the test, not a timing assertion
			for len(hop.got("ok@remote.test")) == 0 {
				if time.Now().After(deadline) {
					t.Fatalf("the ordinary message was never delivered (clock unmoved): %q", r.ev.events)
				}
				time.Sleep(5 * time.Millisecond)
			}
			r.waitEvent(t, "defer 451 4.4.2 127.0.0.186")
			for _, e := range r.ev.events {
				if strings.Contains(e, "is dead") {
					t.Errorf("a message's own failure made the destination dead: %q", e)
				}
			}
			_ = ok
		})
	}
}

// lastReply is the stored last reply of the first recipient of id.
func (r *faultRig) lastReply(t *testing.T, id queue.ID) string {
	t.Helper()
	var reply string
	if err := r.store.View(func(tx *queue.Tx) error {
		m, err := tx.Get(id)
		if err == nil {
			reply = m.Rcpts[0].LastReply
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return reply
}

// SPEC Q-3, Q-6 (rt32d F1, F2): with max_connections 1 and a next hop
// that accepts and never greets, the first message's session times out
// at the greeting and its failure makes the destination dead. The two
// messages that waited for the slot never had a connection: their
// records carry the dead mark alone — not the other session's greeting
// timeout as their last reply (a delay or failure DSN quoted it as
// theirs, another session's source port in it). At the cool-down's end
// the probe is not the message whose failure made the destination dead:
// the next hop, healed, takes the two others first.
func TestQ6DeadDestinationNeitherLendsItsErrorNorReprobesTheSameMessage(t *testing.T) {
	hop := startFaultHop(t, true)
	r := startFaultRig(t, hop, 1, time.Second, time.Second, time.Hour)
	j1 := r.submit(t, "j1@remote.test")
	r.waitEvent(t, "defer 451 4.4.2") // j1's own greeting timeout
	j2 := r.submit(t, "j2@remote.test")
	j3 := r.submit(t, "j3@remote.test")
	deadline := time.Now().Add(30 * time.Second) // a bound on the test, not a timing assertion
	for r.countEvents("defer 451 4.4.1 destination") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("j2 and j3 not answered by the dead destination: %q", r.ev.events)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := hop.connections(); n != 1 {
		t.Fatalf("%d connections, want j1's only", n)
	}
	if got := r.lastReply(t, j1); !strings.Contains(got, "greeting") {
		t.Errorf("j1's own reply lost: %q", got)
	}
	for _, id := range []queue.ID{j2, j3} {
		if got := r.lastReply(t, id); strings.Contains(got, "greeting") || strings.Contains(got, "127.0.0.186") {
			t.Errorf("a message that never had a connection carries another session's error: %q", got)
		}
	}
	for _, e := range r.ev.events {
		if strings.HasPrefix(e, "defer 451 4.4.1") && strings.Contains(e, "greeting") {
			t.Errorf("a dead destination's deferral quotes another session's error: %q", e)
		}
	}
	hop.heal()
	r.clk.Advance(15 * time.Second) // the cool-down's end
	for len(hop.takenOrder()) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the waiting messages were not delivered after the cool-down: %q, %q", hop.takenOrder(), r.ev.events)
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.clk.Advance(time.Second)
	for len(hop.takenOrder()) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("j1 not delivered: %q, %q", hop.takenOrder(), r.ev.events)
		}
		r.clk.Advance(time.Second)
		time.Sleep(5 * time.Millisecond)
	}
	if order := hop.takenOrder(); order[0] == "j1@remote.test" {
		t.Errorf("the probe after the cool-down was the message whose failure made the destination dead: %q", order)
	}
}

// SPEC Q-3 (rt32d F3): a message that waits for a free connection of a
// destination whose only one hangs at its greeting gets its delay notice
// on time, and at its expiry fails without a job: no new session to the
// hung host opens for it, and its failure quotes no other session's
// reply. Before, a message never tried was not bound by its expiry:
// no notice while it waited, and at the expiry its first attempt opened
// a session to the hung host.
func TestQ3WaitingFirstAttemptGetsNoticeAndNoSessionAfterExpiry(t *testing.T) {
	hop := startFaultHop(t, true)
	r := startFaultRig(t, hop, 1, time.Hour, time.Hour, 30*time.Second)
	r.submit(t, "s1@remote.test")
	deadline := time.Now().Add(30 * time.Second) // a bound on the test, not a timing assertion
	for hop.connections() < 1 {
		if time.Now().After(deadline) {
			t.Fatal("no session for s1")
		}
		time.Sleep(5 * time.Millisecond)
	}
	s2 := r.submit(t, "s2@remote.test") // waits for the only slot
	r.clk.Advance(31 * time.Second)     // s2's delay notice falls due
	for r.countEvents("dsn DSN (delayed)") < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("no delay notice for the message waiting for a free connection: %q", r.ev.events)
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.clk.Advance(90 * time.Second) // past both expiries
	for r.countEvents("fail 550 5.4.7") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the messages did not fail at their expiry: %q", r.ev.events)
		}
		r.clk.Advance(time.Second)
		time.Sleep(5 * time.Millisecond)
	}
	if n := hop.connections(); n != 1 {
		t.Errorf("%d sessions to the hung host, want s1's only: a job started after the expiry", n)
	}
	for len(r.home.got("sender@example.org")) < 3 { // s2's delay DSN and both failure DSNs
		if time.Now().After(deadline) {
			t.Fatalf("%d DSNs reached the sender, want 3: %q", len(r.home.got("sender@example.org")), r.ev.events)
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, dsn := range r.home.got("sender@example.org") {
		if strings.Contains(dsn, "s2@remote.test") && (strings.Contains(dsn, "greeting") || strings.Contains(dsn, "reached the next hop")) {
			t.Errorf("s2's DSN quotes another session's reply:\n%s", dsn)
		}
	}
	_ = s2
}

// SPEC Q-6 (rt32d F2), the sibling through the delay notice: the
// message whose failure made the destination dead is claimed inside
// the cool-down when its delay notice falls due there (its retry is
// capped at the notice), and answered by the dead mark — due a second
// after the cool-down's end, not at it with the mail the cool-down
// held, so it is not the probe then either.
func TestQ6DeadDestinationKillerNoticedInCoolDownIsNotTheProbe(t *testing.T) {
	hop := startFaultHop(t, true)
	r := startFaultRig(t, hop, 1, time.Second, time.Second, 5*time.Second)
	j1 := r.submit(t, "j1@remote.test")
	r.waitEvent(t, "defer 451 4.4.2") // j1's greeting timeout: dead until t0+15s
	j2 := r.submit(t, "j2@remote.test")
	r.waitEvent(t, "defer 451 4.4.1 destination")
	r.clk.Advance(6 * time.Second)               // j1's delay notice, inside the cool-down
	deadline := time.Now().Add(30 * time.Second) // a bound on the test, not a timing assertion
	for r.countEvents("dsn DSN (delayed)") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no delay notices inside the cool-down: %q", r.ev.events)
		}
		time.Sleep(5 * time.Millisecond)
	}
	var n1, n2 time.Time
	for {
		m1, _ := r.q.Message(j1)
		m2, _ := r.q.Message(j2)
		if m1 != nil && m2 != nil && m1.State == queue.Ready && m2.State == queue.Ready && m1.DelayNotified && m2.DelayNotified {
			n1, n2 = m1.NextAttempt, m2.NextAttempt
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the notices were not committed: %q", r.ev.events)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !n1.After(n2) {
		t.Errorf("the message whose failure made the destination dead is due %v, the held mail %v: it would be the probe again",
			n1.Sub(r.t0), n2.Sub(r.t0))
	}
}
