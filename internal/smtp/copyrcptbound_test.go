package smtp

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// copyBoundAddr is a free TCP address on 127.0.0.215 in 15600-15649.
func copyBoundAddr(t *testing.T) string { return freeAddrIn(t, "127.0.0.215", 15600, 15650) }

// rr2avail40 (SR-17, SMTP-3): a shadow copy is not held to the holder's
// max_recipients (TestSR17CopyKeptPastHolderMaxRecipients), but neither
// is it unbounded: once go-smtp was given no limit, a copy's RCPTs were
// all taken — a server in its shadow session could send them without
// end, each kept in the session's memory, and a batch record could name
// as many as its payload held. A copy takes as many recipients as any
// connector in force here takes from a client, and never fewer than a
// message may have after group expansion (maxCopyRecipients): past that
// the RCPT is answered 452 4.5.3 as a client's past its limit, and a
// batch record naming more is refused.
func TestSR17CopyRecipientsBounded(t *testing.T) {
	q := &batchQueue{}
	sh := &heldShadow{signalShadow: signalShadow{fakeShadow: fakeShadow{notes: map[string][]string{}}, sig: discardSig{ch: map[string]chan struct{}{}}}}
	peer := startShadowServer(t, q, sh, true, connectors(t, fmt.Sprintf(`
  - name: transport
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit], servers: [submit, relay, accept-xshadow]}
    limits: {max_recipients: 2}
`, copyBoundAddr(t), credsFile(t))))
	max := maxCopyRecipients
	d := dial(t, peer, "127.0.0.215")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2", "250")
	d.cmd("MAIL FROM:<a@example.org> XSHADOWCOPY=db1", "250")
	// The RCPTs pipelined in blocks: each answered 250 up to the bound.
	var b strings.Builder
	for i := range max {
		fmt.Fprintf(&b, "RCPT TO:<r%d@elsewhere.org>\r\n", i)
		if (i+1)%500 == 0 || i+1 == max {
			d.send(b.String())
			b.Reset()
			for j := i - i%500; j <= i; j++ {
				if got := d.reply(); !strings.HasPrefix(got, "250") {
					t.Fatalf("copy RCPT %d: %q", j+1, got)
				}
			}
		}
	}
	d.cmd("RCPT TO:<past@elsewhere.org>", fmt.Sprintf("452 4.5.3 Maximum limit of %d recipients reached", max))
	d.cmd("RSET", "250")

	// A batch record naming more than the bound is refused.
	c, _ := shadowLogClient(t, peer)
	if !c.CanPushBatch() {
		t.Fatal("peer offers no batches")
	}
	rcpts := make([]string, max+1)
	for i := range rcpts {
		rcpts[i] = "r" + strconv.Itoa(i) + "@e.org"
	}
	rec, ok := c.CopyRecord(batchMsg("b@example.org", rcpts...), []byte("Subject: c\r\n\r\nbody\r\n"))
	if !ok {
		t.Fatal("no batch record")
	}
	errs, err := c.PushBatch([][]byte{rec}, "dbA")
	if err == nil && (len(errs) != 1 || errs[0] == nil) {
		t.Fatalf("a batch record of %d recipients was kept", max+1)
	}
	if len(q.copies) != 0 {
		t.Fatalf("%d copies kept", len(q.copies))
	}
}

// rr2avail40 (SMTP-2): max_recipients as a client meets it now that the
// session holds it (recipientLimit) and not go-smtp: the 452 4.5.3 past
// it in go-smtp's words, a refused RCPT not counted, the count afresh
// after RSET, the limit the same in a BDAT transaction and for a user's
// login, and LIMITS RCPTMAX= announced once.
func TestSMTP2RecipientLimitAsClientSeesIt(t *testing.T) {
	q := &fakeQueue{}
	s := startWith(t, ServerConfig{Queue: q, Connectors: connectors(t, fmt.Sprintf(`
  - name: default
    bindings: [%q]
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit, relay]}
    limits: {max_recipients: 2}
`, copyBoundAddr(t), credsFile(t)))})
	d := dial(t, s, "127.0.0.215")
	d.expect("220")
	if ehlo := d.cmd("EHLO c.test", "250"); strings.Count(ehlo, "LIMITS") != 1 || !strings.Contains(ehlo, "LIMITS RCPTMAX=2") {
		t.Fatalf("EHLO:\n%s", ehlo)
	}
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<x@elsewhere.org>", "5") // refused: not counted
	d.cmd("RCPT TO:<u1@example.test>", "250")
	d.cmd("RCPT TO:<u2@example.test>", "250")
	d.cmd("RCPT TO:<u3@example.test>", "452 4.5.3 Maximum limit of 2 recipients reached")
	d.cmd("RSET", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<u3@example.test>", "250")
	d.cmd("RCPT TO:<u4@example.test>", "250")
	d.cmd("RCPT TO:<u5@example.test>", "452 4.5.3")
	d.send("BDAT 20 LAST\r\nSubject: b\r\n\r\nbody\r\n")
	d.expect("250")
	if q.count() != 1 || len(q.msgs[0].Rcpts) != 2 {
		t.Fatalf("queued %d", q.count())
	}
	u := dial(t, s, "127.0.0.215")
	u.expect("220")
	u.cmd("EHLO c.test", "250")
	u.cmd(authAlice, "235")
	u.cmd("MAIL FROM:<a@example.org>", "250")
	u.cmd("RCPT TO:<x1@elsewhere.org>", "250")
	u.cmd("RCPT TO:<x2@elsewhere.org>", "250")
	u.cmd("RCPT TO:<x3@elsewhere.org>", "452 4.5.3 Maximum limit of 2 recipients reached")
}
