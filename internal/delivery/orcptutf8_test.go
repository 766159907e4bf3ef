package delivery

import (
	"context"
	"net"
	"strings"
	"testing"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// SMTP-1, RFC 6533 §3: a utf-8 ORCPT goes raw (utf-8-addr-unitext) only
// in a transaction that uses SMTPUTF8; in any other it is written as
// utf-8-addr-xtext (\x{…}), whatever the next hop advertises. A hop that
// offers SMTPUTF8 but gets a MAIL without it refuses raw UTF-8 in the
// RCPT (umbra does: 501 5.5.4), and the recipient umbra took would
// bounce. Each transaction form is checked on the wire: pipelined,
// lock-step, and LMTP.
func TestUTF8OrcptFormFollowsTheTransaction(t *testing.T) {
	const orcpt = "utf-8;p\u00e9l\u00e9+1@example.org"
	for _, tc := range []struct {
		name     string
		keywords []string
		utf8     bool
		want     string
		lmtp     bool
	}{
		{"pipelined, plain transaction", []string{"8BITMIME", "PIPELINING", "DSN", "SMTPUTF8"}, false, `ORCPT=UTF-8;p\x{E9}l\x{E9}\x{2B}1@example.org`, false},
		{"lock-step, plain transaction", []string{"8BITMIME", "DSN", "SMTPUTF8"}, false, `ORCPT=UTF-8;p\x{E9}l\x{E9}\x{2B}1@example.org`, false},
		{"hop without SMTPUTF8", []string{"8BITMIME", "PIPELINING", "DSN"}, false, `ORCPT=UTF-8;p\x{E9}l\x{E9}\x{2B}1@example.org`, false},
		{"pipelined, SMTPUTF8 transaction", []string{"8BITMIME", "PIPELINING", "DSN", "SMTPUTF8"}, true, "ORCPT=UTF-8;p\u00e9l\u00e9\\x{2B}1@example.org", false},
		{"lock-step, SMTPUTF8 transaction", []string{"8BITMIME", "DSN", "SMTPUTF8"}, true, "ORCPT=UTF-8;p\u00e9l\u00e9\\x{2B}1@example.org", false},
		{"lmtp, plain transaction", []string{"LMTPREPLIES", "8BITMIME", "PIPELINING", "DSN", "SMTPUTF8"}, false, `ORCPT=UTF-8;p\x{E9}l\x{E9}\x{2B}1@example.org`, true},
		{"lmtp lock-step, plain transaction", []string{"LMTPREPLIES", "8BITMIME", "DSN", "SMTPUTF8"}, false, `ORCPT=UTF-8;p\x{E9}l\x{E9}\x{2B}1@example.org`, true},
		{"lmtp, SMTPUTF8 transaction", []string{"LMTPREPLIES", "8BITMIME", "PIPELINING", "DSN", "SMTPUTF8"}, true, "ORCPT=UTF-8;p\u00e9l\u00e9\\x{2B}1@example.org", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startRawSink(t, "127.0.0.121:0", tc.keywords...)
			dns := &fakeDNS{mx: map[string][]*net.MX{"outside.example": {{Host: "mx.outside.example.", Pref: 10}}},
				hosts: map[string][]string{"mx.outside.example": {"127.0.0.121"}}}
			d := newDeliverer(t, dns, config.Mailbox{}, mxConnector(portOf(s.addr)))
			m, want := message("x@outside.example"), queue.RelayedOK
			if tc.lmtp {
				d = newDeliverer(t, &fakeDNS{}, config.Mailbox{LMTP: s.addr})
				m, want = message("x@example.test"), queue.DeliveredOK
			}
			m.UTF8 = tc.utf8
			m.Rcpts[0].Notify, m.Rcpts[0].ORcpt = queue.NotifyFailure, orcpt
			if res := d.Deliver(context.Background(), m, body, all(m)); len(res) != 1 || res[0].Outcome != want {
				t.Fatalf("results %+v", res)
			}
			s.mu.Lock()
			rcpts := append([]string(nil), s.rcpts...)
			s.mu.Unlock()
			if len(rcpts) != 1 || !strings.HasSuffix(rcpts[0], " "+tc.want) {
				t.Fatalf("RCPT lines %q, want one ending in %q", rcpts, tc.want)
			}
		})
	}
}
