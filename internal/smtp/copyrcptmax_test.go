package smtp

import (
	"fmt"
	"strings"
	"testing"

	"umbra/internal/orgid"
)

// rcptMaxAddr is a free TCP address on 127.0.0.212 in 15000-15049.
func rcptMaxAddr(t *testing.T) string { return freeAddrIn(t, "127.0.0.212", 15000, 15050) }

// rravail40 (SR-17, W-2): a shadow copy's recipients are its primary's,
// as its primary took them under its own connector's max_recipients; the
// holder's (lower, or another connector's) is a per-client limit that
// does not judge a copy. go-smtp's own MaxRecipients answered the copy's
// recipient past the holder's limit 452 4.5.3, and parseCopyBatch
// refused a batch record with more recipients than it as malformed
// (554): the copy went to no holder configured alike, and the message
// was held by its primary only. A copy of any number of recipients is
// kept, alone or in a batch; a client's own transaction still gets the
// 452 past the limit, and the EHLO still announces it.
func TestSR17CopyKeptPastHolderMaxRecipients(t *testing.T) {
	q := &batchQueue{}
	sh := &heldShadow{signalShadow: signalShadow{fakeShadow: fakeShadow{notes: map[string][]string{}}, sig: discardSig{ch: map[string]chan struct{}{}}}}
	peer := startShadowServer(t, q, sh, true, connectors(t, fmt.Sprintf(`
  - name: transport
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit], servers: [submit, relay, accept-xshadow]}
    limits: {max_recipients: 2}
`, rcptMaxAddr(t), credsFile(t))))
	c, _ := shadowLogClient(t, peer)
	body := []byte("Subject: c\r\n\r\nbody\r\n")
	three := batchMsg("a@example.org", "x@elsewhere.org", "y@elsewhere.org", "z@elsewhere.org")
	if err := c.PushCopy(three, body, "dbA"); err != nil {
		t.Fatalf("copy of 3 recipients to a holder whose max_recipients is 2: %v", err)
	}
	if len(q.copies) != 1 || len(q.copies[0].m.Rcpts) != 3 {
		t.Fatalf("%d copies kept", len(q.copies))
	}
	if !c.CanPushBatch() {
		t.Fatal("peer offers no batches")
	}
	rec, ok := c.CopyRecord(batchMsg("b@example.org", "x@elsewhere.org", "y@elsewhere.org", "z@elsewhere.org"), body)
	if !ok {
		t.Fatal("no batch record")
	}
	errs, err := c.PushBatch([][]byte{rec}, "dbA")
	if err != nil || len(errs) != 1 || errs[0] != nil {
		t.Fatalf("batch of one copy of 3 recipients: %v %v", errs, err)
	}
	if len(q.copies) != 2 || len(q.copies[1].m.Rcpts) != 3 {
		t.Fatalf("%d copies kept", len(q.copies))
	}

	// A client's own transaction is held to the limit as before.
	d := dial(t, peer, "127.0.0.212")
	d.expect("220")
	if ehlo := d.cmd("EHLO client.test", "250"); !strings.Contains(ehlo, "LIMITS RCPTMAX=2") {
		t.Fatalf("EHLO does not announce max_recipients:\n%s", ehlo)
	}
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<u1@example.test>", "250")
	d.cmd("RCPT TO:<u2@example.test>", "250")
	d.cmd("RCPT TO:<u3@example.test>", "452 4.5.3")
	// A server's relay in its shadow session (XSHADOW=) is mail to
	// deliver here, held to the limit too.
	d2 := dial(t, peer, "127.0.0.212")
	d2.expect("220")
	d2.cmd("EHLO hub2.test", "250")
	d2.cmd(authHub2, "235")
	d2.cmd("XSHADOW hub2", "250")
	d2.cmd("MAIL FROM:<a@example.org> XSHADOW="+orgid.New(), "250")
	d2.cmd("RCPT TO:<u1@elsewhere.org>", "250")
	d2.cmd("RCPT TO:<u2@elsewhere.org>", "250")
	d2.cmd("RCPT TO:<u3@elsewhere.org>", "452 4.5.3")
}
