package delivery

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/routing"
)

// peer48Deliverer delivers example.net to p alone (one MX host).
func peer48Deliverer(t *testing.T, p *peer48) *Deliverer {
	t.Helper()
	ip, _, _ := net.SplitHostPort(p.addr())
	dns := &fakeDNS{mx: map[string][]*net.MX{"example.net": {{Host: "mx.example.net.", Pref: 10}}},
		hosts: map[string][]string{"mx.example.net": {ip}}}
	conn := mxConnector(portOf(p.addr()))
	conn.TLS = config.TLSNone
	return newDeliverer(t, dns, config.Mailbox{}, conn)
}

// SMTP-1, Q-3 (deliv48 item 1): a pipelined transaction whose MAIL was
// not accepted — refused, or answered out of step by a host that still
// holds a transaction of its own — or whose recipients were all refused
// sends no message data even when the host answers DATA with 354: the
// data is abandoned by closing the connection, never ended with a dot
// (an empty message delivered to whatever recipients the host holds).
// The recipients take MAIL's reply (or their own RCPT replies).
func TestSMTP1NoBodyAfterRefusedPipelinedMail(t *testing.T) {
	for _, tc := range []struct {
		name, mail, rcpt string
		want             queue.Outcome
		reply            string
	}{
		{"mail out of step", "503 5.5.1 Error: nested MAIL command", "250 2.1.5 ok", queue.Deferred, "nested MAIL command"},
		{"mail refused", "550 5.7.1 sender refused", "250 2.1.5 ok", queue.FailedPerm, "550 5.7.1 sender refused"},
		{"mail deferred", "451 4.3.0 try later", "250 2.1.5 ok", queue.Deferred, "451 4.3.0 try later"},
		{"every rcpt refused", "250 2.1.0 ok", "550 5.1.1 no such user", queue.FailedPerm, "550 5.1.1 no such user"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startPeer48(t, "127.0.0.1", []string{"peer48.test", "PIPELINING"}, func(conn int, cmd string) string {
				switch {
				case strings.HasPrefix(cmd, "MAIL"):
					return tc.mail
				case strings.HasPrefix(cmd, "RCPT"):
					return tc.rcpt
				}
				return "" // DATA: 354, as a confused host gives it
			})
			d := peer48Deliverer(t, p)
			m := message("x@example.net")
			res := d.Deliver(context.Background(), m, body, all(m))
			p.served(t) // the session is closed: a dot written before the close is counted
			if n := p.ended(); n != 0 {
				t.Errorf("the host got %d message(s) ended with a dot after %q / %q: a body sent for a transaction not taken", n, tc.mail, tc.rcpt)
			}
			if len(res) != 1 || res[0].Outcome != tc.want || !strings.Contains(res[0].Reply, tc.reply) {
				t.Errorf("results %+v, want %v quoting %q", res, tc.want, tc.reply)
			}
		})
	}
}

// SMTP-1 (deliv48 item 1, the LMTP sibling): an LMTP server that opens
// DATA after a refused MAIL or with no recipient accepted gets no dot
// either: nothing is delivered to a mailbox it may still hold.
func TestSMTP1NoLMTPBodyAfterRefusedMail(t *testing.T) {
	for _, tc := range []struct{ name, mail, rcpt string }{
		{"mail out of step", "503 5.5.1 Error: nested MAIL command", "250 2.1.5 ok"},
		{"every rcpt refused", "250 2.1.0 ok", "550 5.1.1 no such user"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startPeer48(t, "127.0.0.1", []string{"lmtp.test", "PIPELINING"}, func(conn int, cmd string) string {
				switch {
				case strings.HasPrefix(cmd, "MAIL"):
					return tc.mail
				case strings.HasPrefix(cmd, "RCPT"):
					return tc.rcpt
				}
				return ""
			})
			d := newDeliverer(t, &fakeDNS{}, config.Mailbox{LMTP: p.addr()})
			m := message("b@example.test")
			res := d.Deliver(context.Background(), m, body, all(m))
			p.served(t) // the session is closed: a dot written before the close is counted
			if n := p.ended(); n != 0 {
				t.Errorf("the LMTP server got %d message(s) ended with a dot after %q / %q", n, tc.mail, tc.rcpt)
			}
			if len(res) != 1 || res[0].Outcome == queue.DeliveredOK {
				t.Errorf("results %+v, want b not delivered", res)
			}
		})
	}
}

// SMTP-1, Q-3 (deliv48 item 2): a fresh session that ends with a 421
// (at the greeting, EHLO, MAIL or RCPT) or breaks before any of the
// message went to the host has given the host nothing: the recipients
// go on to the next MX host in the same attempt, as after a connect
// failure — not to the retry schedule. Lock-step and pipelined alike.
func TestSMTP1FreshSession421OrBreakGoesToTheNextMX(t *testing.T) {
	for _, pipelining := range []bool{false, true} {
		for _, tc := range []struct{ at, reply string }{
			{"greeting", "421 4.3.2 shutting down"},
			{"EHLO", "421 4.3.2 shutting down"},
			{"MAIL", "421 4.3.2 shutting down"},
			{"RCPT", "421 4.7.0 too many connections"},
			{"MAIL", "close"},
			{"RCPT", "close"},
			{"DATA", "close"},
		} {
			t.Run(tc.at+" "+tc.reply[:min(3, len(tc.reply))]+" pipelining="+map[bool]string{true: "yes", false: "no"}[pipelining], func(t *testing.T) {
				ln1, ln2 := pair48(t)
				ehlo := []string{"peer48.test"}
				if pipelining {
					ehlo = append(ehlo, "PIPELINING")
				}
				a := startPeer48On(t, ln1, ehlo, func(conn int, cmd string) string {
					if strings.HasPrefix(cmd, tc.at) {
						return tc.reply
					}
					return ""
				}, func(p *peer48) {
					if tc.at == "greeting" {
						p.greeting = func(int) string { return tc.reply }
					}
				})
				b := startPeer48On(t, ln2, ehlo, func(conn int, cmd string) string { return "" })
				d := pair48Deliverer(t, portOf(a.addr()))
				m := message("x@example.net", "y@example.net")
				res := d.Deliver(context.Background(), m, body, all(m))
				if len(res) != 2 {
					t.Fatalf("results %+v, want one per recipient", res)
				}
				for _, r := range res {
					if r.Outcome != queue.RelayedOK || !strings.Contains(r.NextHop, "127.0.0.249") {
						t.Errorf("%s: %v %q via %s, want relayed by the second MX host in this attempt", m.Rcpts[r.Rcpt].Addr, r.Outcome, r.Reply, r.NextHop)
					}
				}
				if a.ended() != 0 || b.ended() != 1 {
					t.Errorf("first host took %d messages, second %d; want 0 and 1", a.ended(), b.ended())
				}
			})
		}
	}
}

// SMTP-1 (deliv48 item 4): in lock-step as pipelined, a stray 3xx to one
// RCPT beside an accepted one leaves the session out of step: it ends
// before any message went to the host (a host that took the 3xx for a
// 354 would read the next commands as data), and every recipient of the
// transaction — the accepted one, the one answered so, the ones after
// it — goes on to the next MX host in this attempt, each delivered once.
func TestSMTP1StrayRcptReplyGoesToTheNextMX(t *testing.T) {
	for _, pipelining := range []bool{false, true} {
		for _, stray := range []string{"354 go ahead", "334 VXNlcm5hbWU6"} {
			t.Run(stray[:3]+map[bool]string{true: " pipelined", false: " lock-step"}[pipelining], func(t *testing.T) {
				ln1, ln2 := pair48(t)
				ehlo := []string{"peer48.test"}
				if pipelining {
					ehlo = append(ehlo, "PIPELINING")
				}
				a := startPeer48On(t, ln1, ehlo, func(conn int, cmd string) string {
					if strings.HasPrefix(cmd, "RCPT TO:<Y@") {
						return stray
					}
					return ""
				})
				b := startPeer48On(t, ln2, ehlo, func(conn int, cmd string) string { return "" })
				d := pair48Deliverer(t, portOf(a.addr()))
				m := message("x@example.net", "y@example.net", "z@example.net")
				res := d.Deliver(context.Background(), m, body, all(m))
				if len(res) != 3 {
					t.Fatalf("results %+v, want one per recipient", res)
				}
				for _, r := range res {
					if r.Outcome != queue.RelayedOK || !strings.Contains(r.NextHop, "127.0.0.249") {
						t.Errorf("%s: %v %q via %s, want relayed by the second MX host", m.Rcpts[r.Rcpt].Addr, r.Outcome, r.Reply, r.NextHop)
					}
				}
				if a.ended() != 0 || b.ended() != 1 {
					t.Errorf("first host took %d messages, second %d; want 0 and 1", a.ended(), b.ended())
				}
			})
		}
	}
}

// SMTP-1, Q-3 (deliv48 item 5): an LMTP server's 503 to the end of the
// message for one recipient (RFC 2033 §4.2: one reply each) is a
// sequence error of its session, no verdict on that recipient: it is
// deferred, quoting the server's words, never failed for good; the
// other recipient's own reply stands.
func TestSMTP1LMTPFinal503Defers(t *testing.T) {
	for _, pipelining := range []bool{false, true} {
		t.Run(map[bool]string{true: "pipelined", false: "lock-step"}[pipelining], func(t *testing.T) {
			ehlo := []string{"lmtp.test"}
			if pipelining {
				ehlo = append(ehlo, "PIPELINING")
			}
			p := startPeer48(t, "127.0.0.1", ehlo, func(conn int, cmd string) string { return "" }, func(p *peer48) {
				p.final = func(int) []string { return []string{"250 2.0.0 a delivered", "503 5.5.1 bad sequence of commands"} }
			})
			d := newDeliverer(t, &fakeDNS{}, config.Mailbox{LMTP: p.addr()})
			m := message("a@example.test", "b@example.test")
			got := byRcpt(m, d.Deliver(context.Background(), m, body, all(m)))
			if r := got["a@example.test"]; r.Outcome != queue.DeliveredOK {
				t.Errorf("a: %v %q, want delivered", r.Outcome, r.Reply)
			}
			if r := got["b@example.test"]; r.Outcome != queue.Deferred || !strings.Contains(r.Reply, "503 5.5.1 bad sequence of commands") {
				t.Errorf("b: %v %q, want deferred quoting the server's 503", r.Outcome, r.Reply)
			}
		})
	}
}

// SMTP-1, Q-3 (deliv48 item 6): a host that answers out of step every
// time, with its backup MX host down (the connection refused), leaves
// the recipients the first host's own answer: it answered (no failed
// contact of the destination, as a reply out of step alone is none),
// and that answer is what keeps the message — not the backup's refused
// connection, which made a destination whose best host answers count
// as unreachable and go dead naming the backup. A 421 is a failed
// contact either way (every 421 is): the recipients keep the host's
// 421, the real reason a dead mark then names.
func TestSMTP1OutOfStepHostWithBackupDownKeepsItsAnswer(t *testing.T) {
	for _, tc := range []struct {
		at, reply string
		answered  bool
	}{
		{"MAIL", "503 5.5.1 Error: nested MAIL command", true},
		{"RCPT", "503 5.5.1 Error: need MAIL command", true},
		{"MAIL", "354 go ahead", true},
		{"MAIL", "421 4.3.2 shutting down", false},
	} {
		for _, pipelining := range []bool{false, true} {
			t.Run(tc.at+" "+tc.reply[:3]+map[bool]string{true: " pipelined", false: " lock-step"}[pipelining], func(t *testing.T) {
				ln1, ln2 := pair48(t)
				ln2.Close() // the backup MX host is down: its connection refused
				ehlo := []string{"peer48.test"}
				if pipelining {
					ehlo = append(ehlo, "PIPELINING")
				}
				a := startPeer48On(t, ln1, ehlo, func(conn int, cmd string) string {
					if strings.HasPrefix(cmd, tc.at) {
						return tc.reply
					}
					return ""
				})
				d := pair48Deliverer(t, portOf(a.addr()))
				m := message("x@example.net")
				res := d.Deliver(context.Background(), m, body, all(m))
				if len(res) != 1 || res[0].Outcome != queue.Deferred {
					t.Fatalf("results %+v, want x deferred", res)
				}
				r := res[0]
				if !strings.Contains(r.NextHop, "127.0.0.248") || !strings.Contains(r.Reply, tc.reply[:3]) || r.Answered != tc.answered {
					t.Errorf("%q against %s (answered %v); want the first host's answer quoting %q, answered %v", r.Reply, r.NextHop, r.Answered, tc.reply, tc.answered)
				}
				if got := queue.AnsweredReply(r.Reply, r.NextHop, "mx:example.net"); got != tc.answered {
					t.Errorf("%q read back after a restart: answered %v, want %v", r.Reply, got, tc.answered)
				}
			})
		}
	}
}

// siteBDeliverer is hub-a's deliverer in a topology of site a (hub-a)
// and site b (hub-b1 at b1, hub-b2 at b2, and mbx-b holding b.test's
// database): mail for b.test is relayed to a hub of site b through its
// shadow session, hub-b1 first (a fresh balancer starts at the first).
func siteBDeliverer(t *testing.T, b1, b2 string) *Deliverer {
	t.Helper()
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}, {Name: "b"}},
		Links: []routing.SiteLink{{Name: "a-b", Sites: []string{"a", "b"}, Cost: 1}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.1:1"},
			{Name: "hub-b1", Role: routing.RoleHub, Site: "b", Address: b1},
			{Name: "hub-b2", Role: routing.RoleHub, Site: "b", Address: b2},
			{Name: "mbx-b", Role: routing.RoleMailbox, Site: "b", Address: "127.0.0.3:1"}},
		Databases:  []routing.Database{{Name: "db-b", Server: "mbx-b"}},
		Recipients: []routing.RecipientMap{{Match: "b.test", Database: "db-b"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	table := routing.NewTable([]routing.AcceptedDomain{{Domain: "b.test", Type: routing.Authoritative}}, nil)
	d, err := New(Config{Hostname: "hub-a", Routing: table, Topology: topo, LocalServer: "hub-a",
		ConnectTimeout: 2 * time.Second, CommandTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	d.st.Load().cfg.ShadowServerID = "hub-a"
	d.st.Load().cfg.Shadows = &shadowRecorder{}
	return d
}

// SMTP-1, Q-3 (deliv48 items 2 and 6, the route's sibling): a hub of
// the route that answers out of step or closes with a 421 before the
// message goes on to the route's next hub in the same attempt; with
// that hub down, the recipients keep the first hub's own answer.
func TestSMTP1RouteServerOutOfStepOr421(t *testing.T) {
	for _, tc := range []struct {
		mail     string
		answered bool
	}{
		{"503 5.5.1 Error: nested MAIL command", true},
		{"421 4.3.2 shutting down", false},
	} {
		for _, down := range []bool{false, true} {
			t.Run(tc.mail[:3]+map[bool]string{true: " second hub down", false: " second hub up"}[down], func(t *testing.T) {
				ln1, ln2 := pair48(t)
				ehlo := []string{"hub-b.test", "XSHADOW 20", "PIPELINING"}
				hub := func(mail string) func(int, string) string {
					return func(conn int, cmd string) string {
						switch {
						case strings.HasPrefix(cmd, "XSHADOW"):
							return "250 db-b"
						case strings.HasPrefix(cmd, "MAIL") && mail != "":
							return mail
						}
						return ""
					}
				}
				a := startPeer48On(t, ln1, ehlo, hub(tc.mail))
				var b *peer48
				if down {
					ln2.Close()
				} else {
					b = startPeer48On(t, ln2, ehlo, hub(""))
				}
				d := siteBDeliverer(t, ln1.Addr().String(), "127.0.0.249:"+portOf(ln1.Addr().String()))
				m := message("u@b.test")
				res := d.Deliver(context.Background(), m, body, all(m))
				if len(res) != 1 {
					t.Fatalf("results %+v, want one", res)
				}
				r := res[0]
				if !down {
					if r.Outcome != queue.ShadowedOK && r.Outcome != queue.RelayedOK || a.ended() != 0 || b.ended() != 1 {
						t.Errorf("%v %q via %s; hubs took %d and %d messages: want it relayed by the second hub in this attempt", r.Outcome, r.Reply, r.NextHop, a.ended(), b.ended())
					}
					return
				}
				if r.Outcome != queue.Deferred || !strings.Contains(r.Reply, tc.mail[:3]) || r.Answered != tc.answered {
					t.Errorf("%v %q via %s (answered %v); want the first hub's answer quoting %q, answered %v", r.Outcome, r.Reply, r.NextHop, r.Answered, tc.mail, tc.answered)
				}
			})
		}
	}
}

// Q-3 (deliv48 item 5): an LMTP server answers the end of the message
// once per recipient (RFC 2033 §4.2). While a later recipient waits for
// its reply, the operator's view (message show: WaitingOn) names the
// server as the recipient's result will — its recorded hop
// (queue.LMTPHop), not umbra's word "lmtp" — and counts its silence
// from the server's last reply, the earlier recipient's final one, not
// from its 354 to DATA. Lock-step and pipelined.
func TestQ3LMTPStallNamesTheServerAndMovesWithFinalReplies(t *testing.T) {
	for _, pipelining := range []bool{false, true} {
		t.Run(map[bool]string{true: "pipelined", false: "lock-step"}[pipelining], func(t *testing.T) {
			ehlo := []string{"lmtp.test"}
			if pipelining {
				ehlo = append(ehlo, "PIPELINING")
			}
			atDot, release, hung := make(chan struct{}), make(chan struct{}), make(chan struct{})
			p := startPeer48(t, "127.0.0.1", ehlo, func(conn int, cmd string) string { return "" }, func(p *peer48) {
				p.final = func(int) []string { return []string{"250 2.0.0 a delivered", "250 2.0.0 b delivered"} }
				p.beforeFinal = func(k int) bool {
					if k == 0 {
						close(atDot)
						<-release // the first recipient's reply waits for the test
						return true
					}
					<-hung // the second recipient's never comes
					return false
				}
			})
			d := newDeliverer(t, &fakeDNS{}, config.Mailbox{LMTP: p.addr()})
			r := startExpiryRig(t, d)
			t.Cleanup(func() { r.stop(func() { close(hung); p.ln.Close() }) })
			m := &queue.Message{ID: r.q.NewID(), From: "sender@example.org", Arrived: r.clk.Now(),
				Rcpts: []queue.Recipient{{Addr: "a@example.test"}, {Addr: "b@example.test"}}}
			if err := r.q.Submit(r.ctx, m, []byte("Subject: s\r\n\r\nhello\r\n")); err != nil {
				t.Fatal(err)
			}
			select {
			case <-atDot:
			case <-time.After(20 * time.Second): // a bound on the test, not a timing assertion
				t.Fatal("the LMTP transaction never reached the end of its message")
			}
			r.clk.Advance(30 * time.Second)
			replied := r.t0.Add(30 * time.Second)
			close(release)
			var w *queue.Stall
			deadline := time.Now().Add(5 * time.Second) // a bound on the wait for the reply to be read
			for {
				got, err := r.q.Message(m.ID)
				if err != nil {
					t.Fatal(err)
				}
				w = r.q.StateView().WaitingOn(got, 1)
				if w != nil && w.Since.Equal(replied) || time.Now().After(deadline) {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			if w == nil {
				t.Fatal("b waits on nothing in the operator's view")
			}
			if w.Host != queue.LMTPHop(p.addr()) {
				t.Errorf("b waits on %q, want the LMTP server as its result records it, %q", w.Host, queue.LMTPHop(p.addr()))
			}
			if !w.Since.Equal(replied) {
				t.Errorf("b waits since %s, want the server's last reply (a's final one) at %s", w.Since, replied)
			}
		})
	}
}

// SMTP-1, Q-3 (words49 item 1): an LMTP server's 503 to the end of the
// message with a status of its own (503 5.7.0: not authorised for that
// mailbox) is its refusal of that recipient, as the same 503 5.7.0 to
// MAIL or RCPT is (the out-of-step rule): failed for good quoting the
// server, not deferred as out of step. Seen to fail first: the final
// reply's enhanced code was never parsed, so every 503 there read as
// out of step, and the recipient was deferred "out of step at end of
// message".
func TestSMTP1LMTPFinal503WithStatusIsARefusal(t *testing.T) {
	for _, pipelining := range []bool{false, true} {
		t.Run(map[bool]string{true: "pipelined", false: "lock-step"}[pipelining], func(t *testing.T) {
			ehlo := []string{"lmtp.test"}
			if pipelining {
				ehlo = append(ehlo, "PIPELINING")
			}
			p := startPeer48(t, "127.0.0.1", ehlo, func(conn int, cmd string) string { return "" }, func(p *peer48) {
				p.final = func(int) []string {
					return []string{"250 2.0.0 a delivered", "503 5.7.0 mailbox not open to this sender"}
				}
			})
			d := newDeliverer(t, &fakeDNS{}, config.Mailbox{LMTP: p.addr()})
			m := message("a@example.test", "b@example.test")
			got := byRcpt(m, d.Deliver(context.Background(), m, body, all(m)))
			if r := got["a@example.test"]; r.Outcome != queue.DeliveredOK {
				t.Errorf("a: %v %q, want delivered", r.Outcome, r.Reply)
			}
			if r := got["b@example.test"]; r.Outcome != queue.FailedPerm || r.Reply != "503 5.7.0 mailbox not open to this sender" {
				t.Errorf("b: %v %q, want failed quoting the server's 503 5.7.0", r.Outcome, r.Reply)
			}
		})
	}
}
