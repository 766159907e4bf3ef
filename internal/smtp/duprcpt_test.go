package smtp

import (
	"fmt"
	"testing"

	"umbra/internal/queue"
)

// The same recipient given again in one transaction (rt44 L3) — in the
// same spelling or in another form of the same address as the
// accepted-domain and mailbox comparison sees it (ASCII case, a
// trailing dot on the domain, a quoted local part that needs no
// quotes) — is answered 250 and stored once, with the first RCPT's DSN
// parameters: final delivery then never sees a second copy of the
// message for one mailbox (which it would count and log as a
// shadow-redundancy duplicate). The limit still counts every RCPT.
func TestRepeatedRecipientStoredOnce(t *testing.T) {
	q := &fakeQueue{}
	s := startWith(t, ServerConfig{Queue: q, Connectors: connectors(t, rcptConnector(20)), Postmaster: "postmaster@example.test"})
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org> RET=HDRS", "250")
	d.cmd("RCPT TO:<alice@example.test> NOTIFY=SUCCESS ORCPT=rfc822;first@example.test", "250")
	for _, r := range []string{"alice@example.test", "ALICE@Example.Test", "alice@example.test.", `"alice"@example.test`} {
		d.cmd(fmt.Sprintf("RCPT TO:<%s> NOTIFY=NEVER", r), "250")
	}
	d.cmd("RCPT TO:<bob@example.test>", "250")
	d.cmd("RCPT TO:<postmaster>", "250")
	d.cmd("RCPT TO:<PostMaster@example.test>", "250")
	d.cmd("DATA", "354")
	d.cmd("Subject: x\r\n\r\nbody\r\n.", "250")
	if q.count() != 1 {
		t.Fatalf("%d messages queued", q.count())
	}
	got := q.msgs[0].Rcpts
	if len(got) != 3 || got[0].Addr != "alice@example.test" || got[0].Notify != queue.NotifySuccess ||
		got[0].ORcpt != "RFC822;first@example.test" || got[1].Addr != "bob@example.test" || got[2].Addr != "postmaster@example.test" {
		t.Fatalf("recipients stored: %+v", got)
	}

	// Repeats count against max_recipients (the client sent them).
	lim := startWith(t, ServerConfig{Queue: &fakeQueue{}, Connectors: connectors(t, rcptConnector(2))})
	d = dial(t, lim, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<alice@example.test>", "250")
	d.cmd("RCPT TO:<alice@example.test>", "250")
	d.cmd("RCPT TO:<bob@example.test>", "452")
}

// rcptConnector is an anonymous submit connector taking max RCPTs.
func rcptConnector(max int) string {
	return fmt.Sprintf(`
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {max_recipients: %d}
`, max)
}
