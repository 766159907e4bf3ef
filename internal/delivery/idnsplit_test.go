package delivery

import (
	"context"
	"strings"
	"testing"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// TestIDNRecipientDoesNotFailASCIIOnes (SMTP-1, RFC 6531 §3.2; idn29
// F1): a message needs SMTPUTF8 at a hop only for what it holds that is
// not ASCII — its sender, the recipients of that transaction, its
// header fields. To a smart host that does not offer SMTPUTF8, the ASCII
// recipient of an SMTPUTF8 message whose sender and header fields are
// ASCII goes in a transaction without SMTPUTF8; only the
// internationalised recipient fails, with the one text that says why.
// A non-ASCII sender still fails them all, with its own text.
func TestIDNRecipientDoesNotFailASCIIOnes(t *testing.T) {
	s := startRawSink(t, "127.0.0.170:0", "8BITMIME")
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{}, config.SendConnector{Name: "to-old",
		AddressSpaces: []config.AddressSpace{{Domain: "*", Cost: 1}}, SmartHosts: []string{s.addr}, TLS: config.TLSNone})
	m := message("idn@bücher.test", "anna@corp.test")
	m.From, m.UTF8 = "x@example.org", true
	res := byRcpt(m, d.Deliver(context.Background(), m, body, all(m)))
	if r := res["anna@corp.test"]; r.Outcome != queue.RelayedOK {
		t.Fatalf("ASCII recipient: %+v, want relayed", r)
	}
	if r := res["idn@bücher.test"]; r.Outcome != queue.FailedPerm || r.Reply != queue.ReplyRcptNeedsSMTPUTF8 {
		t.Fatalf("internationalised recipient: %+v, want failed with %q", r, queue.ReplyRcptNeedsSMTPUTF8)
	}
	mails, datas := s.got()
	s.mu.Lock()
	rcpts := append([]string(nil), s.rcpts...)
	s.mu.Unlock()
	if len(mails) != 1 || strings.Contains(strings.ToUpper(mails[0]), "SMTPUTF8") || len(datas) != 1 {
		t.Fatalf("the hop got MAIL %q and %d bodies, want one MAIL without SMTPUTF8", mails, len(datas))
	}
	if len(rcpts) != 1 || rcpts[0] != "RCPT TO:<anna@corp.test>" {
		t.Fatalf("the hop got RCPT %q, want only anna@corp.test", rcpts)
	}

	// A non-ASCII sender needs SMTPUTF8 in every transaction.
	m2 := message("anna@corp.test")
	m2.From, m2.UTF8 = "émile@example.org", true
	if res := d.Deliver(context.Background(), m2, body, all(m2)); len(res) != 1 || res[0].Outcome != queue.FailedPerm || res[0].Reply != queue.ReplySenderNeedsSMTPUTF8 {
		t.Fatalf("non-ASCII sender: %+v, want failed with %q", res, queue.ReplySenderNeedsSMTPUTF8)
	}
}
