package delivery

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/recipients"
	"umbra/internal/routing"
	"umbra/internal/testsupport"
)

// quitAddr is a loopback address for these tests' peers.
func quitAddr(t *testing.T) string {
	return testsupport.AddrInRange(t, "127.0.0.132", 9000, 1000)
}

// within runs f and fails the test when it has not returned after limit:
// a bound far above the QUIT's own (2 s), far below a command timeout of
// an hour — no measurement.
func within(t *testing.T, what string, limit time.Duration, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(limit):
		t.Fatalf("%s still waiting after %v: a QUIT nobody answers held it for the command timeout", what, limit)
	}
}

// ended waits until the hub has seen n sessions over (the client closed
// each), or fails the test.
func ended(t *testing.T, h *testsupport.Hub, n int32) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for h.Ended.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d sessions closed: a session whose QUIT went unanswered was left open", h.Ended.Load(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// SR-17, OPS (stop): the idle sessions of copies on receipt are ended at
// the stop (ReceiptShadow.Close, serve's deferred close) each with a
// bounded QUIT: a shadow server that never answers QUIT cost the stop
// the command timeout per idle session, one after the other (64 a
// server at most). Close returns, the connection is closed.
func TestReceiptCloseDoesNotWaitForAnUnansweredQuit(t *testing.T) {
	hub := testsupport.StartHub(t, quitAddr(t), testsupport.HubScript{DataReply: "250 2.0.0 kept", HangAtQuit: true})
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}, {Name: "b"}},
		Links: []routing.SiteLink{{Name: "a-b", Sites: []string{"a", "b"}, Cost: 1}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "192.0.2.1:25"},
			{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: hub.Addr()}},
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Hostname: "hub-a.test", Routing: routing.NewTable(nil, nil), Resolver: &fakeDNS{},
		Topology: topo, LocalServer: "hub-a", ShadowServerID: "hub-a", ShadowRetriesRemote: 1, ShadowRetriesLocal: 1,
		ConnectTimeout: 2 * time.Second, CommandTimeout: time.Hour, DataTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	r := NewReceiptShadow(d, "db-a")
	m := &queue.Message{ID: 1, OrgID: "0123456789abcdef0123456789abcdef", From: "a@example.org",
		Rcpts: []queue.Recipient{{Addr: "b@example.net"}}}
	body := queue.MemBody([]byte("Subject: x\r\n\r\nx\r\n"))
	l, err := r.OpenFor(context.Background(), config.ShadowOnReceiptPreferRemote, m, body, false)
	if err != nil {
		t.Fatal(err)
	}
	err = l.Push(context.Background(), m, body)
	l.Done(err == nil) // the session goes back to the pool
	if err != nil {
		t.Fatal(err)
	}
	within(t, "ReceiptShadow.Close", 30*time.Second, r.Close)
	if hub.Quits.Load() != 1 {
		t.Errorf("%d QUIT sent to the idle session in step, want 1", hub.Quits.Load())
	}
	ended(t, hub, 1)
}

// W-5, SR-15: a heartbeat ends with a bounded QUIT. The discards are
// saved before it goes out (the primary forgets them when it reads
// it), so an unanswered QUIT loses nothing — whether the primary read
// it is not known, and nothing here depends on it — and the heartbeat
// is not held for the command timeout.
func TestHeartbeatQuitUnansweredIsBounded(t *testing.T) {
	hub := testsupport.StartHub(t, quitAddr(t), testsupport.HubScript{HangAtQuit: true})
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{})
	d.st.Load().cfg.ShadowServerID = "edge1"
	d.st.Load().cfg.CommandTimeout = time.Hour
	saved := 0
	var err error
	within(t, "Heartbeat", 30*time.Second, func() {
		err = d.Heartbeat(context.Background(), "hub.test", hub.Addr(), func(string, uint64, []string, bool) error {
			saved++
			return nil
		})
	})
	if err != nil || saved == 0 {
		t.Fatalf("heartbeat: %v, %d saves", err, saved)
	}
	if hub.Quits.Load() != 1 {
		t.Errorf("%d QUIT sent, want 1", hub.Quits.Load())
	}
	ended(t, hub, 1)
}

// calloutPeer is a next hop for recipient checks: it greets, takes EHLO
// and MAIL, answers RCPT with rcpt ("" never) and QUIT with 221 when
// quit is set (else never). It reports every command it read on lines,
// and closes eof when the client closed the connection.
func calloutPeer(t *testing.T, rcpt string, quit bool) (addr string, lines chan string, eof chan struct{}) {
	lines, eof = make(chan string, 64), make(chan struct{})
	srv := testsupport.Serve(t, quitAddr(t), func(c net.Conn) {
		go func() {
			defer close(eof)
			br := bufio.NewReader(c)
			c.Write([]byte("220 mx.relay.test ESMTP\r\n"))
			for {
				l, err := br.ReadString('\n')
				if err != nil {
					return
				}
				cmd := strings.ToUpper(strings.TrimSpace(l))
				lines <- cmd
				switch {
				case strings.HasPrefix(cmd, "EHLO"):
					c.Write([]byte("250 mx.relay.test\r\n"))
				case strings.HasPrefix(cmd, "RCPT"):
					if rcpt != "" {
						c.Write([]byte(rcpt + "\r\n"))
					}
				case cmd == "QUIT":
					if quit {
						c.Write([]byte("221 bye\r\n"))
					}
				default:
					c.Write([]byte("250 ok\r\n"))
				}
			}
		}()
	})
	return srv.Addr(), lines, eof
}

// commandsSeen drains lines once the peer saw the close.
func commandsSeen(t *testing.T, lines chan string, eof chan struct{}) []string {
	t.Helper()
	select {
	case <-eof:
	case <-time.After(30 * time.Second):
		t.Fatal("the next hop never saw the connection closed")
	}
	var seen []string
	for {
		select {
		case l := <-lines:
			seen = append(seen, strings.Fields(l)[0])
		default:
			return seen
		}
	}
}

func calloutDeliverer(t *testing.T, addr string, timeout time.Duration) *Deliverer {
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{}, config.SendConnector{Name: "to-hub",
		AddressSpaces: []config.AddressSpace{{Domain: "relay.test", Cost: 1}}, SmartHosts: []string{addr}, TLS: config.TLSNone})
	d.st.Load().cfg.CommandTimeout = timeout
	return d
}

// SMTP-1: a recipient check whose RCPT reply never came is out of step
// with its next hop: it says neither RSET nor QUIT (the late reply would
// answer them), it closes. It cannot decide.
func TestVerifyNoRsetNoQuitAfterARcptTimeout(t *testing.T) {
	addr, lines, eof := calloutPeer(t, "", true)
	d := calloutDeliverer(t, addr, 500*time.Millisecond)
	v, _, err := d.Verify(context.Background(), "alice@relay.test")
	if v != recipients.CannotDecide || err == nil {
		t.Errorf("RCPT never answered: %v %v, want cannot decide", v, err)
	}
	seen := commandsSeen(t, lines, eof)
	for _, c := range seen {
		if c == "RSET" || c == "QUIT" {
			t.Errorf("%s sent after a RCPT whose reply never came: %v", c, seen)
		}
	}
}

// SMTP-1: a recipient check ends with a bounded QUIT: a next hop that
// never answers it holds the check for at most the QUIT's bound, not
// the command timeout, and the connection is closed.
func TestVerifyUnansweredQuitIsBounded(t *testing.T) {
	addr, lines, eof := calloutPeer(t, "250 2.1.5 ok", false)
	d := calloutDeliverer(t, addr, time.Hour)
	var v recipients.Verdict
	within(t, "Verify", 30*time.Second, func() { v, _, _ = d.Verify(context.Background(), "alice@relay.test") })
	if v != recipients.Known {
		t.Errorf("verdict %v, want known", v)
	}
	seen := commandsSeen(t, lines, eof)
	if len(seen) == 0 || seen[len(seen)-1] != "QUIT" {
		t.Errorf("commands %v: the check did not end with QUIT", seen)
	}
}
