package delivery

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/orgid"
	"umbra/internal/queue"
	"umbra/internal/routing"
	"umbra/internal/testsupport"
)

// stepPair is two step servers on one port of 8000-8999, the first
// on 127.0.0.172, the second on 127.0.0.173: a destination's two MX
// hosts (the connector's port is one for both).
func stepPair(t *testing.T, pipelining bool, first func(conn, txn int, cmd string) string) (*stepServer, *stepServer) {
	t.Helper()
	base := 8000 + int(time.Now().UnixNano()%900)
	for p := 0; p < 100; p++ {
		port := base + p
		ln1, err := net.Listen("tcp", fmt.Sprintf("127.0.0.172:%d", port))
		if err != nil {
			continue
		}
		ln2, err := net.Listen("tcp", fmt.Sprintf("127.0.0.173:%d", port))
		if err != nil {
			ln1.Close()
			continue
		}
		a := startStepServerOn(t, ln1, pipelining, first)
		b := startStepServerOn(t, ln2, pipelining, func(conn, txn int, cmd string) string { return "" })
		return a, b
	}
	t.Fatal("no port of 8000-8999 free on both 127.0.0.172 and 127.0.0.173")
	return nil, nil
}

func pairDeliverer(t *testing.T, a *stepServer) *Deliverer {
	t.Helper()
	dns := &fakeDNS{mx: map[string][]*net.MX{"example.net": {{Host: "mx1.example.net.", Pref: 10}, {Host: "mx2.example.net.", Pref: 20}}},
		hosts: map[string][]string{"mx1.example.net": {"127.0.0.172"}, "mx2.example.net": {"127.0.0.173"}}}
	conn := mxConnector(portOf(a.ln.Addr().String()))
	conn.TLS = config.TLSNone
	d := newDeliverer(t, dns, config.Mailbox{}, conn)
	t.Cleanup(d.Close)
	return d
}

// SMTP-1, Q-3 (deliv47 item 5): a next hop that answers out of step (a
// 503 5.5.1 to MAIL or RCPT) or with a stray reply (a 354 where a 2xx,
// 4xx or 5xx belongs) on a FRESH session — nothing of the message sent
// to it — is the remote's fault as much as a reused session's stale
// reply: the recipients it answered so go on to the next MX host in the
// same attempt, as a reused session's go on a fresh connection. Before,
// only the reused session's were tried again; a fresh session's were
// deferred to the retry schedule while the next MX host would have
// taken the message. Lock-step and pipelined alike.
func TestSMTP1FreshSessionOutOfStepGoesToTheNextMX(t *testing.T) {
	for _, pipelining := range []bool{false, true} {
		for _, tc := range []struct {
			cmd, reply string
		}{
			{"MAIL", "503 5.5.1 Error: bad sequence of commands"},
			{"RCPT", "503 5.5.1 Error: need MAIL command"},
			{"MAIL", "354 go ahead"},
			{"RCPT", "354 go ahead"},
		} {
			t.Run(fmt.Sprintf("%s %s pipelining=%v", tc.cmd, tc.reply[:3], pipelining), func(t *testing.T) {
				a, b := stepPair(t, pipelining, func(conn, txn int, cmd string) string {
					if cmd == tc.cmd {
						return tc.reply
					}
					return ""
				})
				d := pairDeliverer(t, a)
				m := message("x@example.net")
				res := d.Deliver(context.Background(), m, body, all(m))
				if len(res) != 1 || res[0].Outcome != queue.RelayedOK {
					t.Fatalf("results %+v, want x relayed in this attempt", res)
				}
				_, aMsgs := a.counts()
				_, bMsgs := b.counts()
				if !strings.Contains(res[0].NextHop, "127.0.0.173") || bMsgs != 1 || aMsgs != 0 {
					t.Errorf("relayed via %s; first host took %d, second %d; want the second MX host to take it", res[0].NextHop, aMsgs, bMsgs)
				}
			})
		}
	}
}

// SMTP-1 (deliv47 item 5): on a fresh session, a recipient answered out
// of step beside one accepted — the accepted one has its message there;
// the other goes on to the next MX host in the same attempt, each
// delivered once. With no host left it stays the reply out of step
// (TestSMTP1OutOfStepRcptLeavesTheAcceptedDelivered).
func TestSMTP1FreshSessionOutOfStepRcptGoesToTheNextMXBesideAccepted(t *testing.T) {
	for _, pipelining := range []bool{false, true} {
		t.Run(fmt.Sprintf("pipelining=%v", pipelining), func(t *testing.T) {
			a, b := stepPair(t, pipelining, func(conn, txn int, cmd string) string { return "" })
			a.rcptAnswer = func(conn, txn int, addr string) string {
				if addr == "c@example.net" {
					return "503 5.5.1 Error: bad sequence of commands"
				}
				return ""
			}
			d := pairDeliverer(t, a)
			m := message("b@example.net", "c@example.net")
			res := d.Deliver(context.Background(), m, body, all(m))
			if len(res) != 2 {
				t.Fatalf("results %+v, want one per recipient", res)
			}
			for _, r := range res {
				if r.Outcome != queue.RelayedOK {
					t.Errorf("%s: %v %q, want it relayed in this attempt", m.Rcpts[r.Rcpt].Addr, r.Outcome, r.Reply)
				}
			}
			a.mu.Lock()
			ta := a.taken
			a.mu.Unlock()
			b.mu.Lock()
			tb := b.taken
			b.mu.Unlock()
			if ta["b@example.net"] != 1 || ta["c@example.net"] != 0 || tb["c@example.net"] != 1 || tb["b@example.net"] != 0 {
				t.Errorf("first host took %v, second %v; want b at the first, c at the second, once each", ta, tb)
			}
		})
	}
}

// SMTP-1 (deliv47 item 5, the pool's sibling checked): a pooled
// session that answers MAIL or RCPT with a stray reply (a 354) has
// nothing of the message sent on it, as one answering out of step: it
// is ended and the message goes on a fresh connection in the same
// attempt. So it was already (reuse's sessionGone reads the stray
// deferral, umbra's 451 4.4.2 naming the host, as a session that
// ended); this keeps the pool's half of the rule beside the fresh
// session's.
func TestSMTP1StrayOnReusedSessionRetriedFresh(t *testing.T) {
	for _, pipelining := range []bool{false, true} {
		for _, at := range []string{"MAIL", "RCPT"} {
			t.Run(fmt.Sprintf("%s pipelining=%v", at, pipelining), func(t *testing.T) {
				ln := testsupport.Listen(t, "127.0.0.174:0")
				s := startStepServerOn(t, ln, pipelining, func(conn, txn int, cmd string) string {
					if conn == 1 && txn >= 2 && cmd == at {
						return "354 go ahead"
					}
					return ""
				})
				d := stepDeliverer(t, s)
				m1 := message("a@example.net")
				if res := d.Deliver(context.Background(), m1, body, all(m1)); len(res) != 1 || res[0].Outcome != queue.RelayedOK {
					t.Fatalf("first message: %+v", res)
				}
				m2 := message("b@example.net")
				res := d.Deliver(context.Background(), m2, body, all(m2))
				if len(res) != 1 || res[0].Outcome != queue.RelayedOK {
					t.Errorf("second message on the reused session answered stray: %+v, want it relayed on a fresh connection", res)
				}
				if conns, msgs := s.counts(); conns != 2 || msgs != 2 {
					t.Errorf("%d connections, %d messages taken; want 2 and 2 (the reused session ended, one fresh)", conns, msgs)
				}
			})
		}
	}
}

// Q-6 (deliv47 item 3): what a result says of its host's answer
// (Answered) is what its stored words say after a restart
// (queue.AnsweredReply): for every reply a real next hop gives — its own
// 4xx in a session it keeps, a 421 of any status, a reply out of step, a
// stray one, no reply at all — the two agree, so the destination's
// health rebuilt at a start reads each as it was read when it came.
func TestQ6AnsweredReadBackFromTheStoredReply(t *testing.T) {
	for _, tc := range []struct {
		cmd, reply string
		answered   bool
	}{
		{"MAIL", "451 4.4.2 too busy, try later", true},
		{"MAIL", "452 4.3.1 insufficient system storage", true},
		{"RCPT", "450 4.2.1 mailbox busy", true},
		{"MAIL", "421 4.7.0 too many connections from your IP", false},
		{"MAIL", "421 4.3.2 system shutting down", false},
		{"RCPT", "421 4.4.2 closing", false},
		{"MAIL", "503 5.5.1 Error: nested MAIL command", true},
		{"RCPT", "354 go ahead", true},
	} {
		t.Run(tc.cmd+" "+tc.reply, func(t *testing.T) {
			ln := testsupport.Listen(t, "127.0.0.175:0")
			s := startStepServerOn(t, ln, false, func(conn, txn int, cmd string) string {
				if cmd == tc.cmd {
					return tc.reply
				}
				return ""
			})
			// The same server as a destination's MX host and as the
			// mailbox store's LMTP server (its results recorded against
			// "lmtp:ADDR", umbra's words about the session "lmtp: …").
			for _, lmtp := range []bool{false, true} {
				d, rcpt := stepDeliverer(t, s), "a@example.net"
				if lmtp {
					d, rcpt = newDeliverer(t, &fakeDNS{}, config.Mailbox{LMTP: ln.Addr().String()}), "bob@example.test"
					t.Cleanup(d.Close)
				}
				m := message(rcpt)
				res := d.Deliver(context.Background(), m, body, all(m))
				if len(res) != 1 || res[0].Outcome != queue.Deferred {
					t.Fatalf("lmtp %v: results %+v, want a deferral", lmtp, res)
				}
				r := res[0]
				if r.Answered != tc.answered {
					t.Errorf("lmtp %v: %q: answered %v, want %v", lmtp, r.Reply, r.Answered, tc.answered)
				}
				if got := queue.AnsweredReply(r.Reply, r.NextHop, r.Queue); got != r.Answered {
					t.Errorf("lmtp %v: %q against %s read back: answered %v, the result said %v", lmtp, r.Reply, r.NextHop, got, r.Answered)
				}
			}
		})
	}
}

// Q-6 (deliv47 item 1): a real next hop that answers MAIL with a 421 —
// whatever its enhanced status, or none — closes its session: its
// destination's window shrinks and `queue destinations` shows it
// failing with the 421 as its last error. Before, only a 421 4.4.x
// counted so; "421 4.7.0 too many connections from your IP" grew the
// window of the host throttling umbra.
func TestQ6Every421ShrinksTheWindow(t *testing.T) {
	for k, reply := range []string{
		"421 4.7.0 too many connections from your IP",
		"421 4.3.2 system shutting down",
		"421 service not available",
	} {
		t.Run(reply, func(t *testing.T) {
			hop := startFaultHopAt(t, fmt.Sprintf("127.0.0.176:%d", 8700+2*k), false)
			hop.mu.Lock() // read by its sessions under the lock
			hop.mailReply = reply
			hop.mu.Unlock()
			r := startFaultRigOn(t, "127.0.0.176", fmt.Sprintf("127.0.0.176:%d", 38701+2*k), hop, 3, 5*time.Second, 5*time.Second, time.Hour)
			r.submit(t, "a@remote.test")
			r.waitEvent(t, "defer "+reply)
			deadline := time.Now().Add(30 * time.Second) // a bound on the test, not a timing assertion
			for {
				var got queue.DestinationInfo
				for _, di := range r.q.Destinations() {
					if di.Queue == "smarthost:remote" {
						got = di
					}
				}
				if got.Running == 0 && got.State != "" {
					if got.State != "failing" || got.Failures != 1 || got.Window != 2 || got.LastError != reply {
						t.Errorf("after %q: %+v; want failing once, window 2 of 3, its last error the 421", reply, got)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the job never ended: %+v", r.q.Destinations())
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
}

// SMTP-1 (deliv47 item 5, the organisation's sibling): a server of an
// organisation route that answers MAIL out of step on a fresh session
// has the message go on to the route's next server in the same
// attempt, as a destination's next MX host does; before, it waited for
// the retry schedule. Two hubs of site a, whichever is tried first
// answering so.
func TestSMTP1FreshSessionOutOfStepGoesToTheRoutesNextServer(t *testing.T) {
	var mu sync.Mutex
	first := true
	answer := func(conn, txn int, cmd string) string {
		if cmd != "MAIL" {
			return ""
		}
		mu.Lock()
		defer mu.Unlock()
		if first {
			first = false
			return "503 5.5.1 Error: bad sequence of commands"
		}
		return ""
	}
	s1 := startStepServerOn(t, testsupport.Listen(t, "127.0.0.177:0"), false, answer)
	s2 := startStepServerOn(t, testsupport.Listen(t, "127.0.0.178:0"), false, answer)
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}, {Name: "b"}},
		Links: []routing.SiteLink{{Name: "a-b", Sites: []string{"a", "b"}, Cost: 1}},
		Servers: []routing.Server{{Name: "hub-a1", Role: routing.RoleHub, Site: "a", Address: s1.ln.Addr().String()},
			{Name: "hub-a2", Role: routing.RoleHub, Site: "a", Address: s2.ln.Addr().String()},
			{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: "127.0.0.179:25"}},
		Connectors: []routing.SendConnector{{Name: "out", AddressSpaces: []routing.AddressSpace{{Domain: "*", Cost: 1}},
			SourceServers: []string{"hub-a1", "hub-a2"}, SmartHosts: []string{"127.0.0.9:25"}, Enabled: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Hostname: "hub-b.test", Routing: routing.NewTable(nil, nil), Topology: topo, LocalServer: "hub-b",
		Resolver: &fakeDNS{}, ConnectTimeout: 2 * time.Second, CommandTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	m := message("r@remote.example")
	m.OrgID = orgid.New()
	res := d.Deliver(context.Background(), m, body, all(m))
	if len(res) != 1 || res[0].Outcome != queue.RelayedOK {
		t.Fatalf("results %+v, want r relayed by the route's other server in this attempt", res)
	}
	c1, m1 := s1.counts()
	c2, m2 := s2.counts()
	if c1 != 1 || c2 != 1 || m1+m2 != 1 {
		t.Errorf("connections %d and %d, messages %d and %d; want one session each, the message taken once", c1, c2, m1, m2)
	}
}
