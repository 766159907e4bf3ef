package delivery

import (
	"context"
	"strings"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// TestQuotedLocalPartSentQuoted (SMTP-1, RFC 5321 §4.1.2; rt29b F3): an
// address with a quoted local part, as RCPT stores it ("an na"@…), goes
// to the next hop quoted in MAIL and RCPT, and a DSN about it names it
// so.
func TestQuotedLocalPartSentQuoted(t *testing.T) {
	s := startRawSink(t, "127.0.0.171:0", "8BITMIME")
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{}, config.SendConnector{Name: "to-hub",
		AddressSpaces: []config.AddressSpace{{Domain: "*", Cost: 1}}, SmartHosts: []string{s.addr}, TLS: config.TLSNone})
	m := message(`"an na"@corp.test`, `"a \"b\" \\c"@corp.test`)
	m.From = `"x y"@example.org`
	res := d.Deliver(context.Background(), m, body, all(m))
	for _, r := range res {
		if r.Outcome != queue.RelayedOK {
			t.Fatalf("results %+v", res)
		}
	}
	mails, _ := s.got()
	s.mu.Lock()
	rcpts := append([]string(nil), s.rcpts...)
	s.mu.Unlock()
	if len(mails) != 1 || !strings.HasPrefix(mails[0], `MAIL FROM:<"x y"@example.org>`) {
		t.Fatalf("MAIL %q", mails)
	}
	if strings.Join(rcpts, "|") != `RCPT TO:<"an na"@corp.test>|RCPT TO:<"a \"b\" \\c"@corp.test>` {
		t.Fatalf("RCPT %q", rcpts)
	}

	// The DSN names the recipient as stored.
	at := time.Unix(1e9, 0)
	m.Arrived = at
	m.Rcpts[0].Status, m.Rcpts[0].LastReply, m.Rcpts[0].NextHop = queue.Failed, "550 5.1.1 no such user", "mx.corp.test[192.0.2.1]:25"
	dsn := string(queue.BuildDSN("mx.test", m, body, queue.NotifyFailure, []int{0}, at, at, 8, 0))
	if !strings.Contains(dsn, `Final-Recipient: rfc822; "an na"@corp.test`) {
		t.Fatalf("DSN:\n%s", dsn)
	}
}
