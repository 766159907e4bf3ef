package delivery

import (
	"context"
	"net"
	"strings"
	"testing"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// TestUTF8RecipientTriesTheNextMXHost (SMTP-1, RFC 6531 §3.2): an MX
// destination whose hosts differ in SMTPUTF8. The first host lacks it:
// the ASCII recipient goes there, in a transaction without SMTPUTF8, and
// the internationalised one is tried at the next host — of the same
// preference or the next — which offers it, not failed at the first.
// Only when no host of the destination offers SMTPUTF8 does it fail,
// with the one text that says why; the ASCII recipient is sent once.
func TestUTF8RecipientTriesTheNextMXHost(t *testing.T) {
	bare := startRawSink(t, "127.0.0.141:0", "8BITMIME")
	port := portOf(bare.addr)
	full := startRawSink(t, "127.0.0.142:"+port, "8BITMIME", "SMTPUTF8")
	for _, pref := range []uint16{10, 20} {
		dns := &fakeDNS{mx: map[string][]*net.MX{
			"outside.example": {{Host: "bare.outside.example", Pref: 10}, {Host: "full.outside.example", Pref: pref}},
			"bare.example":    {{Host: "bare.outside.example", Pref: 10}}},
			hosts: map[string][]string{"bare.outside.example": {"127.0.0.141"}, "full.outside.example": {"127.0.0.142"}}}
		d := newDeliverer(t, dns, config.Mailbox{}, mxConnector(port))
		m := message("anna@outside.example", "jürgen@outside.example")
		m.UTF8 = true
		res := byRcpt(m, d.Deliver(context.Background(), m, body, all(m)))
		if r := res["jürgen@outside.example"]; r.Outcome != queue.RelayedOK || !strings.Contains(r.NextHop, "127.0.0.142") {
			t.Fatalf("preference %d: internationalised recipient %+v, want relayed by full.outside.example", pref, r)
		}
		if r := res["anna@outside.example"]; r.Outcome != queue.RelayedOK {
			t.Fatalf("preference %d: ASCII recipient %+v, want relayed", pref, r)
		}
		if len(res) != 2 {
			t.Fatalf("preference %d: %d results, want 2", pref, len(res))
		}
	}
	bare.mu.Lock()
	bareRcpts := strings.Join(bare.rcpts, " ")
	bare.mu.Unlock()
	full.mu.Lock()
	fullRcpts := strings.Join(full.rcpts, " ")
	full.mu.Unlock()
	if strings.Contains(bareRcpts, "jürgen") || !strings.Contains(fullRcpts, "jürgen") {
		t.Fatalf("the internationalised recipient at the host without SMTPUTF8: %q; at the host with it: %q", bareRcpts, fullRcpts)
	}

	// No host of the destination offers SMTPUTF8: the internationalised
	// recipient fails, the ASCII one goes once.
	dns := &fakeDNS{mx: map[string][]*net.MX{"bare.example": {{Host: "bare.outside.example", Pref: 10}}},
		hosts: map[string][]string{"bare.outside.example": {"127.0.0.141"}}}
	d := newDeliverer(t, dns, config.Mailbox{}, mxConnector(port))
	m := message("anna@bare.example", "jürgen@bare.example")
	m.UTF8 = true
	res := byRcpt(m, d.Deliver(context.Background(), m, body, all(m)))
	if r := res["jürgen@bare.example"]; r.Outcome != queue.FailedPerm || r.Reply != queue.ReplyRcptNeedsSMTPUTF8 {
		t.Fatalf("no host with SMTPUTF8: internationalised recipient %+v, want failed with %q", r, queue.ReplyRcptNeedsSMTPUTF8)
	}
	if r := res["anna@bare.example"]; r.Outcome != queue.RelayedOK || len(res) != 2 {
		t.Fatalf("no host with SMTPUTF8: ASCII recipient %+v (%d results), want relayed", r, len(res))
	}
}
