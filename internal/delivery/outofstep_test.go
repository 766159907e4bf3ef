package delivery

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/recipients"
)

// stepServer is an SMTP server on 127.0.0.170 (a port of 9000-9999)
// whose replies to MAIL, RCPT and DATA a test scripts per connection and
// per transaction of it: answer(conn, txn, cmd) returns the reply, ""
// for the usual one. It counts connections and messages taken.
type stepServer struct {
	ln         net.Listener
	pipelining bool
	answer     func(conn, txn int, cmd string) string
	// rcptAnswer, when set, answers an RCPT (addr its address) before
	// answer does; "" goes on to answer.
	rcptAnswer func(conn, txn int, addr string) string

	mu       sync.Mutex
	conns    int
	messages int
	taken    map[string]int // recipient → messages taken for it
}

// listen170 listens on 127.0.0.170 at a port of 9000-9999 (the
// addresses this package's tests of the out-of-step rule may use).
func listen170(t *testing.T) net.Listener {
	t.Helper()
	base := 9000 + int(time.Now().UnixNano()%900)
	for p := 0; p < 100; p++ {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.170:%d", base+p))
		if err == nil {
			return ln
		}
	}
	t.Fatal("no free port on 127.0.0.170 in 9000-9999")
	return nil
}

func startStepServer(t *testing.T, pipelining bool, answer func(conn, txn int, cmd string) string) *stepServer {
	t.Helper()
	return startStepServerOn(t, listen170(t), pipelining, answer)
}

// startStepServerOn is startStepServer serving ln.
func startStepServerOn(t *testing.T, ln net.Listener, pipelining bool, answer func(conn, txn int, cmd string) string) *stepServer {
	t.Helper()
	s := &stepServer{ln: ln, pipelining: pipelining, answer: answer}
	t.Cleanup(func() { s.ln.Close() })
	go func() {
		for {
			c, err := s.ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns++
			n := s.conns
			s.mu.Unlock()
			go s.serve(c, n)
		}
	}()
	return s
}

func (s *stepServer) serve(c net.Conn, conn int) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(c)
	io.WriteString(c, "220 step.test ESMTP\r\n")
	// A server in step refuses RCPT with no MAIL taken, DATA with no
	// RCPT taken: what a pipelining client sent behind a refusal.
	txn, mail, rcpts := 0, false, 0
	var held []string // the recipients of the transaction taken
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(l))
		verb, _, _ := strings.Cut(cmd, " ")
		if verb == "MAIL" {
			txn++
		}
		reply := ""
		switch {
		case verb == "RCPT" && !mail:
			reply = "503 5.5.1 need MAIL command"
		case verb == "DATA" && rcpts == 0:
			reply = "503 5.5.1 need RCPT command"
		case verb == "MAIL" || verb == "RCPT" || verb == "DATA":
			if verb == "RCPT" && s.rcptAnswer != nil {
				_, to, _ := strings.Cut(strings.TrimSpace(l), ":")
				reply = s.rcptAnswer(conn, txn, strings.ToLower(strings.Trim(strings.Fields(to + " x")[0], "<>")))
			}
			if reply == "" {
				reply = s.answer(conn, txn, verb)
			}
		}
		if verb == "MAIL" {
			held = nil
		} else if verb == "RCPT" && reply == "" && mail {
			_, to, _ := strings.Cut(strings.TrimSpace(l), ":")
			held = append(held, strings.ToLower(strings.Trim(strings.Fields(to + " x")[0], "<>")))
		}
		switch {
		case verb == "MAIL":
			mail, rcpts = reply == "", 0
		case verb == "RCPT" && reply == "":
			rcpts++
		case verb == "RSET" || verb == "DATA":
			mail, rcpts = false, 0
		}
		switch {
		case verb == "EHLO" && s.pipelining:
			io.WriteString(c, "250-step.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
		case verb == "EHLO":
			io.WriteString(c, "250-step.test\r\n250 8BITMIME\r\n")
		case verb == "QUIT":
			io.WriteString(c, "221 bye\r\n")
			return
		case reply != "":
			io.WriteString(c, reply+"\r\n")
		case verb == "DATA":
			io.WriteString(c, "354 go on\r\n")
			for l != ".\r\n" {
				if l, err = r.ReadString('\n'); err != nil {
					return
				}
			}
			s.mu.Lock()
			s.messages++
			if s.taken == nil {
				s.taken = map[string]int{}
			}
			for _, a := range held {
				s.taken[a]++
			}
			s.mu.Unlock()
			io.WriteString(c, "250 2.0.0 ok\r\n")
		default:
			io.WriteString(c, "250 ok\r\n")
		}
	}
}

func (s *stepServer) counts() (conns, messages int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns, s.messages
}

func stepDeliverer(t *testing.T, s *stepServer) *Deliverer {
	t.Helper()
	dns := &fakeDNS{mx: map[string][]*net.MX{"example.net": {{Host: "mx.example.net.", Pref: 10}}},
		hosts: map[string][]string{"mx.example.net": {s.ln.Addr().(*net.TCPAddr).IP.String()}}}
	conn := mxConnector(portOf(s.ln.Addr().String()))
	conn.TLS = config.TLSNone
	d := newDeliverer(t, dns, config.Mailbox{}, conn)
	t.Cleanup(d.Close)
	return d
}

// TestSMTP1OutOfStepAtMailDefers: a next hop that answers MAIL with 503
// 5.5.1 (bad sequence of commands) on a fresh session is out of step,
// not refusing the message: every recipient is deferred — never failed
// for good on it — with umbra's 451 4.4.2 quoting the host's own reply,
// and the session is not kept for the next message. The siblings, 500
// (command not recognised) and 502 (not implemented) to MAIL, a command
// every SMTP server takes, are the same. A 5xx to MAIL that says why
// the message is refused (501 5.1.7 a bad sender, 550 5.7.1 a policy,
// 503 5.7.0 with a status of its own) stays that refusal.
func TestSMTP1OutOfStepAtMailDefers(t *testing.T) {
	for _, pipelining := range []bool{false, true} {
		for _, tc := range []struct {
			reply    string
			deferred bool
		}{
			{"503 5.5.1 Error: nested MAIL command", true},
			{"503 bad sequence of commands", true},
			{"500 5.5.2 Error: command not recognized", true},
			{"502 5.5.1 command not implemented", true},
			{"501 5.1.7 Bad sender address syntax", false},
			{"550 5.7.1 sender refused by policy", false},
			{"503 5.7.0 authentication required", false},
		} {
			name := fmt.Sprintf("%s pipelining=%v", tc.reply[:3]+tc.reply[3:9], pipelining)
			t.Run(name, func(t *testing.T) {
				s := startStepServer(t, pipelining, func(conn, txn int, cmd string) string {
					if cmd == "MAIL" {
						return tc.reply
					}
					return ""
				})
				d := stepDeliverer(t, s)
				m := message("a@example.net", "b@example.net")
				res := d.Deliver(context.Background(), m, body, all(m))
				if len(res) != 2 {
					t.Fatalf("results %+v, want one per recipient", res)
				}
				for _, r := range res {
					if !tc.deferred {
						if r.Outcome != queue.FailedPerm || r.Reply != tc.reply {
							t.Errorf("%s: %v %q, want it failed with the host's refusal", m.Rcpts[r.Rcpt].Addr, r.Outcome, r.Reply)
						}
						continue
					}
					if r.Outcome != queue.Deferred || !strings.HasPrefix(r.Reply, "451 4.4.2 ") || !strings.HasSuffix(r.Reply, ": "+tc.reply) {
						t.Errorf("%s: %v %q, want a deferral 451 4.4.2 quoting %q", m.Rcpts[r.Rcpt].Addr, r.Outcome, r.Reply, tc.reply)
					}
				}
				if !tc.deferred {
					return
				}
				// The next message gets a session of its own: the one out
				// of step was not pooled.
				before, _ := s.counts()
				m2 := message("c@example.net")
				d.Deliver(context.Background(), m2, body, all(m2))
				if after, _ := s.counts(); after != before+1 {
					t.Errorf("%d connections after the next message, want %d: the session out of step was kept", after, before+1)
				}
			})
		}
	}
}

// TestSMTP1OutOfStepOnReusedSessionRetriedFresh: a pooled session the
// next hop answers out of step (503 5.5.1 to MAIL, to RCPT or to DATA:
// a transaction of the message before still open there, its state
// confused) is ended, and the message goes on a fresh connection in the
// same attempt — delivered, not bounced nor deferred for it.
func TestSMTP1OutOfStepOnReusedSessionRetriedFresh(t *testing.T) {
	for _, pipelining := range []bool{false, true} {
		for _, at := range []string{"MAIL", "RCPT", "DATA"} {
			t.Run(fmt.Sprintf("%s pipelining=%v", at, pipelining), func(t *testing.T) {
				s := startStepServer(t, pipelining, func(conn, txn int, cmd string) string {
					if txn >= 2 && cmd == at {
						return "503 5.5.1 Error: bad sequence of commands"
					}
					return ""
				})
				d := stepDeliverer(t, s)
				m1 := message("a@example.net")
				if res := d.Deliver(context.Background(), m1, body, all(m1)); len(res) != 1 || res[0].Outcome != queue.RelayedOK {
					t.Fatalf("first message: %+v", res)
				}
				m2 := message("b@example.net", "c@example.net")
				res := d.Deliver(context.Background(), m2, body, all(m2))
				for _, r := range res {
					if r.Outcome != queue.RelayedOK {
						t.Errorf("%s on the reused session out of step: %v %q, want it relayed on a fresh connection", m2.Rcpts[r.Rcpt].Addr, r.Outcome, r.Reply)
					}
				}
				if len(res) != 2 {
					t.Errorf("results %+v, want one per recipient", res)
				}
				if conns, msgs := s.counts(); conns != 2 || msgs != 2 {
					t.Errorf("%d connections, %d messages taken; want 2 and 2 (the reused session ended, one fresh)", conns, msgs)
				}
			})
		}
	}
}

// TestSMTP1OutOfStepRcptOnReusedSessionRetriedFreshBesideAccepted (rt44
// delivery2 F3): on a reused session, a recipient whose RCPT the next
// hop answers out of step (503 5.5.1) while it accepted another of the
// same message goes on a fresh connection in the same attempt too —
// not to the retry schedule because another was accepted — and the
// accepted one, delivered on the reused session, is not sent again:
// each delivered once.
func TestSMTP1OutOfStepRcptOnReusedSessionRetriedFreshBesideAccepted(t *testing.T) {
	for _, pipelining := range []bool{false, true} {
		t.Run(fmt.Sprintf("pipelining=%v", pipelining), func(t *testing.T) {
			s := startStepServer(t, pipelining, func(conn, txn int, cmd string) string { return "" })
			s.rcptAnswer = func(conn, txn int, addr string) string {
				if conn == 1 && txn >= 2 && addr == "c@example.net" {
					return "503 5.5.1 Error: bad sequence of commands"
				}
				return ""
			}
			d := stepDeliverer(t, s)
			m1 := message("a@example.net")
			if res := d.Deliver(context.Background(), m1, body, all(m1)); len(res) != 1 || res[0].Outcome != queue.RelayedOK {
				t.Fatalf("first message: %+v", res)
			}
			m2 := message("b@example.net", "c@example.net")
			res := d.Deliver(context.Background(), m2, body, all(m2))
			for _, r := range res {
				if r.Outcome != queue.RelayedOK {
					t.Errorf("%s: %v %q, want it relayed in this attempt", m2.Rcpts[r.Rcpt].Addr, r.Outcome, r.Reply)
				}
			}
			if len(res) != 2 {
				t.Errorf("results %+v, want one per recipient", res)
			}
			s.mu.Lock()
			taken, conns := s.taken, s.conns
			s.mu.Unlock()
			if taken["b@example.net"] != 1 || taken["c@example.net"] != 1 || conns != 2 {
				t.Errorf("taken %v over %d connections; want b and c once each, c on a second connection", taken, conns)
			}
		})
	}
}

// TestSMTP6CalloutOutOfStepCannotDecide: a recipient callout whose next
// hop answers RCPT out of step (503 5.5.1, 500, 502: the out-of-step
// rule) learnt nothing about the address: it cannot decide (the
// receiving side answers 451, SMTP-6), never "unknown" — which would
// refuse an address that exists with 550 and cache that.
func TestSMTP6CalloutOutOfStepCannotDecide(t *testing.T) {
	for _, reply := range []string{"503 5.5.1 Error: need MAIL command", "500 command unrecognized", "502 5.5.1 not implemented"} {
		t.Run(reply[:3], func(t *testing.T) {
			s := startStepServer(t, false, func(conn, txn int, cmd string) string {
				if cmd == "RCPT" {
					return reply
				}
				return ""
			})
			d := newDeliverer(t, &fakeDNS{}, config.Mailbox{}, config.SendConnector{Name: "to-hub",
				AddressSpaces: []config.AddressSpace{{Domain: "relay.test", Cost: 1}}, SmartHosts: []string{s.ln.Addr().String()}, TLS: config.TLSNone})
			v, got, err := d.Verify(context.Background(), "alice@relay.test")
			if v != recipients.CannotDecide || err == nil {
				t.Errorf("RCPT answered %q: %v %q %v, want cannot decide with an error", reply, v, got, err)
			}
		})
	}
}

// TestSMTP1OutOfStepOnReusedSessionRetriedFreshAfterOtherReplies
// (rrdeliv44): a pooled session out of step at RCPT or DATA after the
// next hop refused another recipient of the message for now (450 to
// its RCPT) is out of step all the same — the message before's
// transaction open there, every reply of this one suspect — and nothing
// of the message was sent: the message goes on a fresh connection in
// the same attempt as when every recipient was answered out of step,
// not one recipient waiting a retry step for a session umbra ended.
func TestSMTP1OutOfStepOnReusedSessionRetriedFreshAfterOtherReplies(t *testing.T) {
	for _, pipelining := range []bool{false, true} {
		for _, at := range []string{"RCPT", "DATA"} {
			t.Run(fmt.Sprintf("%s pipelining=%v", at, pipelining), func(t *testing.T) {
				var mu sync.Mutex
				rcpts := 0 // RCPTs of the reused session's second transaction
				s := startStepServer(t, pipelining, func(conn, txn int, cmd string) string {
					if conn != 1 || txn < 2 {
						return ""
					}
					mu.Lock()
					defer mu.Unlock()
					if cmd == "RCPT" {
						rcpts++
						if rcpts == 1 {
							return "450 4.2.1 mailbox busy, try later"
						}
					}
					if cmd == at {
						return "503 5.5.1 Error: bad sequence of commands"
					}
					return ""
				})
				d := stepDeliverer(t, s)
				m1 := message("a@example.net")
				if res := d.Deliver(context.Background(), m1, body, all(m1)); len(res) != 1 || res[0].Outcome != queue.RelayedOK {
					t.Fatalf("first message: %+v", res)
				}
				m2 := message("b@example.net", "c@example.net")
				res := d.Deliver(context.Background(), m2, body, all(m2))
				for _, r := range res {
					if r.Outcome != queue.RelayedOK {
						t.Errorf("%s on the reused session out of step: %v %q, want it relayed on a fresh connection", m2.Rcpts[r.Rcpt].Addr, r.Outcome, r.Reply)
					}
				}
				if len(res) != 2 {
					t.Errorf("results %+v, want one per recipient", res)
				}
				if conns, msgs := s.counts(); conns != 2 || msgs != 2 {
					t.Errorf("%d connections, %d messages taken; want 2 and 2 (the reused session ended, one fresh)", conns, msgs)
				}
			})
		}
	}
}
