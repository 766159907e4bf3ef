package smtp

import (
	"strings"
	"testing"

	"umbra/internal/orgid"
	"umbra/internal/queue"
)

// SPEC SR-17, SR-6: a shadow copy on receipt keeps each recipient's DSN
// parameters, NOTIFY and ORCPT (an rfc822 one and a utf-8 one), on
// every push path: never in a batch record (version 6), which carries
// neither, but alone; in one round trip (BDAT, shadow verbs version 5),
// pipelined with DATA (version 4), in a transaction with SMTPUTF8 (the
// utf-8 ORCPT raw) and without (as utf-8-addr-xtext). The push sent RCPT TO with no
// parameters, and the peer recorded none: after a takeover a
// NOTIFY=NEVER sender got a DSN, a NOTIFY=SUCCESS one none, and the DSN
// lacked Original-Recipient.
func TestPushCopyKeepsTheRecipientsDSNParameters(t *testing.T) {
	for _, v := range []int{5, 4, -5, -4} {
		smtputf8 := v < 0
		v = max(v, -v)
		peer, q := v5Peer(t)
		c, _ := shadowLogClient(t, peer)
		c.ShadowVersion = v
		m := &queue.Message{From: "a@example.org", UTF8: smtputf8, OrgID: orgid.New(), Rcpts: []queue.Recipient{
			{Addr: "x@elsewhere.org", Notify: queue.NotifyNever, ORcpt: "rfc822;orig@example.org"},
			{Addr: "y@elsewhere.org", Notify: queue.NotifySuccess | queue.NotifyFailure, ORcpt: "utf-8;jörg@example.org"},
			{Addr: "z@elsewhere.org"},
		}}
		if _, ok := c.CopyRecord(m, []byte("Subject: c\r\n\r\nbody\r\n")); ok {
			t.Fatalf("version %d, SMTPUTF8 %v: a copy whose recipients have DSN parameters goes in a batch record, which carries none", v, smtputf8)
		}
		if err := c.PushCopy(m, []byte("Subject: c\r\n\r\nbody\r\n"), "dbA"); err != nil {
			t.Fatalf("version %d, SMTPUTF8 %v: PushCopy: %v", v, smtputf8, err)
		}
		if len(q.copies) != 1 || len(q.copies[0].m.Rcpts) != 3 {
			t.Fatalf("version %d, SMTPUTF8 %v: copies %d", v, smtputf8, len(q.copies))
		}
		for k, r := range q.copies[0].m.Rcpts {
			want := m.Rcpts[k]
			// The address type is case-insensitive (RFC 3461 §4.2): the
			// peer records it as its receive side does, upper case.
			gotType, gotAddr, _ := strings.Cut(r.ORcpt, ";")
			wantType, wantAddr, _ := strings.Cut(want.ORcpt, ";")
			if r.Notify != want.Notify || !strings.EqualFold(gotType, wantType) || gotAddr != wantAddr {
				t.Errorf("version %d, SMTPUTF8 %v: the peer recorded %s with NOTIFY %v ORCPT %q; the message has NOTIFY %v ORCPT %q", v, smtputf8, r.Addr, r.Notify, r.ORcpt, want.Notify, want.ORcpt)
			}
		}
	}
}
