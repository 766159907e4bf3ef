package delivery

import (
	"context"
	"net"
	"strings"
	"testing"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// SMTP-1 (RFC 3461, RFC 6533; rr27 F3): the sibling of frontrt27's fix. A group's members get an
// ORCPT naming the group (queue/expand.go expandInto), always as
// "rfc822;" + the group's address — a utf-8 group address (SMTPUTF8
// mail to équipe@example.test) makes "rfc822;équipe@…", which no
// encoder can write: rfc822 is ASCII (RFC 3461 §4.2; RFC 6533 gives
// such an address type utf-8). go-smtp refuses to format the RCPT
// ("smtp: Illegal address"), delivery takes that for a lost connection
// (451 4.4.2) — the member waits to its expiry and bounces, and in a
// lock-step transaction every recipient after it is deferred with it,
// at every attempt.
func TestSMTP1GroupMemberUTF8OrcptIsSent(t *testing.T) {
	s := startRawSink(t, "127.0.0.181:0", "8BITMIME", "DSN", "SMTPUTF8") // lock-step: no PIPELINING
	dns := &fakeDNS{mx: map[string][]*net.MX{"outside.example": {{Host: "mx.outside.example.", Pref: 10}}},
		hosts: map[string][]string{"mx.outside.example": {"127.0.0.181"}}}
	d := newDeliverer(t, dns, config.Mailbox{}, mxConnector(portOf(s.addr)))
	m := message("member1@outside.example", "member2@outside.example")
	m.UTF8 = true
	for i := range m.Rcpts {
		// What expandInto gives each member of the group équipe@example.test.
		m.Rcpts[i].Notify, m.Rcpts[i].ORcpt = queue.NotifyFailure, "rfc822;\u00e9quipe@example.test"
	}
	res := d.Deliver(context.Background(), m, body, all(m))
	for _, r := range res {
		if r.Outcome != queue.RelayedOK {
			t.Errorf("recipient %d: %v %q", r.Rcpt, r.Outcome, r.Reply)
		}
	}
}

// SMTP-1 (rr27 F3): the member's ORCPT reaches the next hop typed utf-8
// (raw in this SMTPUTF8 transaction, RFC 6533 §3), the group named.
func TestSMTP1GroupMemberUTF8OrcptOnTheWire(t *testing.T) {
	for _, tc := range []struct {
		name string
		utf8 bool
		want string
	}{
		{"smtputf8", true, "ORCPT=UTF-8;\u00e9quipe@example.test"},
		{"ascii transaction", false, `ORCPT=UTF-8;\x{E9}quipe@example.test`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startRawSink(t, "127.0.0.181:0", "8BITMIME", "DSN", "SMTPUTF8", "PIPELINING")
			dns := &fakeDNS{mx: map[string][]*net.MX{"outside.example": {{Host: "mx.outside.example.", Pref: 10}}},
				hosts: map[string][]string{"mx.outside.example": {"127.0.0.181"}}}
			d := newDeliverer(t, dns, config.Mailbox{}, mxConnector(portOf(s.addr)))
			m := message("member1@outside.example")
			m.UTF8 = tc.utf8
			m.Rcpts[0].Notify, m.Rcpts[0].ORcpt = queue.NotifyFailure, "rfc822;\u00e9quipe@example.test"
			for _, r := range d.Deliver(context.Background(), m, body, all(m)) {
				if r.Outcome != queue.RelayedOK {
					t.Fatalf("recipient %d: %v %q", r.Rcpt, r.Outcome, r.Reply)
				}
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			if len(s.rcpts) != 1 || !strings.Contains(s.rcpts[0], " "+tc.want) {
				t.Fatalf("RCPT lines %q, want one with %q", s.rcpts, tc.want)
			}
		})
	}
}

// SMTP-1 (rr27 F3): a RCPT that go-smtp refuses to write (here a stored
// NOTIFY set of NEVER with FAILURE, which no client may send) is sent to
// no one: that recipient fails, in umbra's words naming what was not
// sent, and every other recipient goes on in the same transaction —
// lock-step and pipelined. Taken for a lost connection (451 4.4.2) it
// deferred every recipient after it, at every attempt, and counted
// against the destination.
func TestSMTP1UnwritableRcptFailsAloneNotTheConnection(t *testing.T) {
	for _, tc := range []struct {
		name     string
		keywords []string
	}{
		{"lock-step", []string{"8BITMIME", "DSN"}},
		{"pipelined", []string{"8BITMIME", "DSN", "PIPELINING"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startRawSink(t, "127.0.0.181:0", tc.keywords...)
			dns := &fakeDNS{mx: map[string][]*net.MX{"outside.example": {{Host: "mx.outside.example.", Pref: 10}}},
				hosts: map[string][]string{"mx.outside.example": {"127.0.0.181"}}}
			d := newDeliverer(t, dns, config.Mailbox{}, mxConnector(portOf(s.addr)))
			m := message("a@outside.example", "b@outside.example", "c@outside.example")
			m.Rcpts[1].Notify = queue.NotifyNever | queue.NotifyFailure
			res := d.Deliver(context.Background(), m, body, all(m))
			if len(res) != 3 {
				t.Fatalf("results %+v", res)
			}
			for _, r := range res {
				switch {
				case r.Rcpt == 1:
					if r.Outcome != queue.FailedPerm || !strings.HasPrefix(r.Reply, "554 5.5.4 mx.outside.example[127.0.0.181]:") ||
						!strings.Contains(r.Reply, "RCPT not sent: the command could not be written (smtp: Malformed NOTIFY parameter value)") {
						t.Errorf("recipient 1: %v %q", r.Outcome, r.Reply)
					}
				case r.Outcome != queue.RelayedOK:
					t.Errorf("recipient %d: %v %q", r.Rcpt, r.Outcome, r.Reply)
				}
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			if len(s.rcpts) != 2 || len(s.datas) != 1 {
				t.Errorf("sink saw RCPT %q and %d bodies, want a and c in one transaction", s.rcpts, len(s.datas))
			}
		})
	}
}
