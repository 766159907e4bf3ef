package delivery

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/recipients"
)

// replyHop is a next hop on loopback with scripted replies: its own
// reply to each accepted RCPT and to the end of the data (any 2yz), and
// a limit of recipients per transaction past which RCPT gets
// "452 4.5.3 Too many recipients". It serves any number of connections
// (closeAfterData: each after its first message) and records each
// transaction's recipients.
type replyHop struct {
	pipelining     bool
	lmtp           bool
	rcptReply      string // "" → 250 2.1.5 ok
	finalReply     string // "" → 250 2.0.0 queued
	maxRcpts       int    // 0: no limit
	refuseAll452   bool   // every RCPT gets 452 4.5.3
	closeAfterData bool
	dropAtRcpt     int // the connection closes, unanswered, at this RCPT (1-based); 0: never

	mu    sync.Mutex
	conns int
	mails int
	sent  [][]string // recipients of each transaction whose data was sent
}

func (h *replyHop) start(t *testing.T, addr string) string {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h.mu.Lock()
			h.conns++
			h.mu.Unlock()
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(20 * time.Second))
				h.serve(c)
			}()
		}
	}()
	return ln.Addr().String()
}

func (h *replyHop) serve(c net.Conn) {
	r := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	say := func(l string) { w.WriteString(l + "\r\n") }
	flush := func() {
		if !h.pipelining || r.Buffered() == 0 {
			w.Flush()
		}
	}
	say("220 hop.test ESMTP")
	w.Flush()
	var rcpts []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.TrimRight(line, "\r\n")
		verb := strings.ToUpper(strings.SplitN(cmd, " ", 2)[0])
		switch verb {
		case "EHLO", "LHLO":
			say("250-hop.test")
			say("250-8BITMIME")
			say("250-ENHANCEDSTATUSCODES")
			if h.pipelining {
				say("250-PIPELINING")
			}
			say("250 SIZE 100000")
		case "MAIL":
			h.mu.Lock()
			h.mails++
			h.mu.Unlock()
			rcpts = nil
			say("250 2.1.0 ok")
		case "RCPT":
			addr := strings.Trim(strings.SplitN(cmd, ":", 2)[1], "<> ")
			if i := strings.Index(addr, ">"); i >= 0 {
				addr = addr[:i]
			}
			if h.dropAtRcpt > 0 && len(rcpts)+1 == h.dropAtRcpt {
				w.Flush()
				return
			}
			if h.refuseAll452 || (h.maxRcpts > 0 && len(rcpts) >= h.maxRcpts) {
				say("452 4.5.3 Too many recipients")
				break
			}
			rcpts = append(rcpts, addr)
			if h.rcptReply != "" {
				say(h.rcptReply)
			} else {
				say("250 2.1.5 ok")
			}
		case "DATA":
			if len(rcpts) == 0 {
				say("554 5.5.1 no valid recipients")
				break
			}
			say("354 go ahead")
			w.Flush()
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
			}
			h.mu.Lock()
			h.sent = append(h.sent, rcpts)
			h.mu.Unlock()
			final := h.finalReply
			if final == "" {
				final = "250 2.0.0 queued"
			}
			n := 1
			if h.lmtp {
				n = len(rcpts)
			}
			for range n {
				say(final)
			}
			rcpts = nil
			if h.closeAfterData {
				w.Flush()
				return
			}
		case "RSET", "NOOP":
			rcpts = nil
			say("250 2.0.0 ok")
		case "QUIT":
			say("221 2.0.0 bye")
			w.Flush()
			return
		default:
			say("502 5.5.2 unknown")
		}
		flush()
	}
}

// SPEC Q-3, SMTP-1 (a DSN quotes the next hop's own reply, RFC 3464 §2.3.6):
// a next hop answering the end of the data with a 2yz other than 250
// (251 "will forward", 299) is recorded with that very code, over SMTP
// lock-step and pipelined, and over LMTP per recipient.
func TestNextHopSuccessCodeKept(t *testing.T) {
	for _, tc := range []struct {
		name       string
		pipelining bool
		lmtp       bool
		final      string
	}{
		{"lockstep 251", false, false, "251 2.1.5 User not local; will forward"},
		{"pipelined 251", true, false, "251 2.1.5 User not local; will forward"},
		{"pipelined 299", true, false, "299 ok"},
		{"lmtp 251", false, true, "251 2.1.5 User not local; will forward"},
		{"lmtp pipelined 252", true, true, "252 2.1.5 taken"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &replyHop{pipelining: tc.pipelining, lmtp: tc.lmtp, finalReply: tc.final, rcptReply: "251 2.1.5 will forward"}
			var d *Deliverer
			var m *queue.Message
			ok := queue.RelayedOK
			if tc.lmtp {
				addr := h.start(t, "127.0.0.1:0")
				d = newDeliverer(t, &fakeDNS{}, config.Mailbox{LMTP: addr})
				m = message("a@example.test", "b@example.test")
				ok = queue.DeliveredOK
			} else {
				addr := h.start(t, "127.0.0.3:0")
				dns := &fakeDNS{mx: map[string][]*net.MX{"example.net": {{Host: "mx.example.net.", Pref: 10}}},
					hosts: map[string][]string{"mx.example.net": {"127.0.0.3"}}}
				d = newDeliverer(t, dns, config.Mailbox{}, mxConnector(portOf(addr)))
				m = message("a@example.net", "b@example.net")
			}
			res := d.Deliver(context.Background(), m, body, all(m))
			if len(res) != 2 {
				t.Fatalf("results %+v", res)
			}
			for _, r := range res {
				if r.Outcome != ok || r.Reply != tc.final {
					t.Errorf("recipient %d: outcome %v reply %q, want the next hop's own %q", r.Rcpt, r.Outcome, r.Reply, tc.final)
				}
			}
		})
	}
}

// SPEC SMTP-1, Q-6 (RFC 5321 §4.5.3.1.10): a next hop that takes two
// recipients per transaction and refuses the others "452 4.5.3 Too many
// recipients" gets all seven in one attempt, in transactions of two, on
// one session, lock-step, pipelined and over LMTP; each recipient's reply
// is the one of the transaction that delivered it.
func TestTooManyRecipientsSentInBatches(t *testing.T) {
	for _, tc := range []struct {
		name       string
		pipelining bool
		lmtp       bool
	}{
		{"lockstep", false, false},
		{"pipelined", true, false},
		{"lmtp", false, true},
		{"lmtp pipelined", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &replyHop{pipelining: tc.pipelining, lmtp: tc.lmtp, maxRcpts: 2}
			d, m, ok := batchSetup(t, h, tc.lmtp, 7)
			res := d.Deliver(context.Background(), m, body, all(m))
			if len(res) != 7 {
				t.Fatalf("%d results for 7 recipients: %+v", len(res), res)
			}
			for _, r := range res {
				if r.Outcome != ok || r.Reply != "250 2.0.0 queued" {
					t.Errorf("recipient %d: outcome %v reply %q", r.Rcpt, r.Outcome, r.Reply)
				}
			}
			h.mu.Lock()
			defer h.mu.Unlock()
			if h.conns != 1 || len(h.sent) != 4 {
				t.Fatalf("%d sessions, transactions %v: want one session of 4 transactions", h.conns, h.sent)
			}
		})
	}
}

// A transaction where every RCPT gets 452 is an ordinary deferral: one
// transaction, no loop, the recipients deferred with the hop's reply.
func TestTooManyRecipientsNoneAcceptedDefers(t *testing.T) {
	for _, pipelining := range []bool{false, true} {
		h := &replyHop{pipelining: pipelining, refuseAll452: true}
		d, m, _ := batchSetup(t, h, false, 3)
		res := d.Deliver(context.Background(), m, body, all(m))
		for _, r := range res {
			if r.Outcome != queue.Deferred || r.Reply != "452 4.5.3 Too many recipients" {
				t.Errorf("pipelining %v: recipient %d: outcome %v reply %q", pipelining, r.Rcpt, r.Outcome, r.Reply)
			}
		}
		h.mu.Lock()
		if h.mails != 1 {
			t.Errorf("pipelining %v: %d transactions begun, want 1", pipelining, h.mails)
		}
		h.mu.Unlock()
	}
}

func batchSetup(t *testing.T, h *replyHop, lmtp bool, n int) (*Deliverer, *queue.Message, queue.Outcome) {
	t.Helper()
	var rcpts []string
	if lmtp {
		addr := h.start(t, "127.0.0.1:0")
		for i := range n {
			rcpts = append(rcpts, fmt.Sprintf("r%d@example.test", i))
		}
		return newDeliverer(t, &fakeDNS{}, config.Mailbox{LMTP: addr}), message(rcpts...), queue.DeliveredOK
	}
	addr := h.start(t, "127.0.0.3:0")
	dns := &fakeDNS{mx: map[string][]*net.MX{"example.net": {{Host: "mx.example.net.", Pref: 10}}},
		hosts: map[string][]string{"mx.example.net": {"127.0.0.3"}}}
	for i := range n {
		rcpts = append(rcpts, fmt.Sprintf("r%d@example.net", i))
	}
	return newDeliverer(t, dns, config.Mailbox{}, mxConnector(portOf(addr))), message(rcpts...), queue.RelayedOK
}

// The same next hop closing the session after each message: the
// recipients it refused as too many go at once on a new session (three
// sessions for five recipients at two each), in one attempt.
func TestTooManyRecipientsHopClosesNewSession(t *testing.T) {
	for _, pipelining := range []bool{false, true} {
		h := &replyHop{pipelining: pipelining, maxRcpts: 2, closeAfterData: true}
		d, m, ok := batchSetup(t, h, false, 5)
		res := d.Deliver(context.Background(), m, body, all(m))
		if len(res) != 5 {
			t.Fatalf("pipelining %v: %d results for 5 recipients: %+v", pipelining, len(res), res)
		}
		for _, r := range res {
			if r.Outcome != ok || r.Reply != "250 2.0.0 queued" {
				t.Errorf("pipelining %v: recipient %d: outcome %v reply %q", pipelining, r.Rcpt, r.Outcome, r.Reply)
			}
		}
		h.mu.Lock()
		if h.conns != 3 || len(h.sent) != 3 {
			t.Errorf("pipelining %v: %d sessions, transactions %v: want 3 of one transaction each", pipelining, h.conns, h.sent)
		}
		h.mu.Unlock()
	}
}

// SPEC SMTP-6, Q-3: a callout's RCPT answered 251 (or 252) is Known with
// the next hop's own reply recorded, not a "250" made up here.
func TestCalloutKeepsTheRcptReply(t *testing.T) {
	for _, rcptReply := range []string{"251 2.1.5 User not local; will forward", "252 2.1.5 Cannot VRFY, but will accept"} {
		h := &replyHop{rcptReply: rcptReply}
		addr := h.start(t, "127.0.0.1:0")
		d := newDeliverer(t, &fakeDNS{}, config.Mailbox{}, config.SendConnector{Name: "to-hub",
			AddressSpaces: []config.AddressSpace{{Domain: "relay.test", Cost: 1}}, SmartHosts: []string{addr}, TLS: config.TLSNone})
		v, reply, err := d.Verify(context.Background(), "alice@relay.test")
		if v != recipients.Known || err != nil || reply != rcptReply {
			t.Errorf("callout: %v %q %v, want known with %q", v, reply, err, rcptReply)
		}
	}
}
