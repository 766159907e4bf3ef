package smtp

import (
	"fmt"
	"strings"
	"testing"
)

// A malformed BDAT in the middle of a transfer fails the transaction
// (RFC 3030 §4.2: the client takes the 501 as the end of it): the data
// so far and its spool file go, and a client that starts over without
// RSET gets a new transaction, never its new chunk appended to the old
// message.
func TestMalformedBDATEndsTransfer(t *testing.T) {
	st, dir := spoolStore(t)
	q := &bodyQueue{}
	s := startSpoolServer(t, q, st, 4096, 0, connectors(t, `
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {max_message_size: 1MiB}
`)...)
	first := "Subject: first\r\n\r\n" + strings.Repeat("f", 8000) + "\r\n"
	second := "Subject: second\r\n\r\nhi\r\n"
	for _, bad := range []string{"BDAT 5 LASTX", "BDAT", "BDAT -1", "BDAT 5 LAST extra", "BDAT 0x10"} {
		d := dial(t, s, "")
		d.expect("220")
		d.cmd("EHLO c", "250")
		d.cmd("MAIL FROM:<a@example.org>", "250")
		d.cmd("RCPT TO:<b@example.test>", "250")
		d.send(fmt.Sprintf("BDAT %d\r\n%s", len(first), first))
		d.expect("250")
		waitSpoolFiles(t, dir, 1)
		d.cmd(bad, "501 5.5.4")
		waitSpoolFiles(t, dir, 0)
		// Started over without RSET: a new transaction.
		d.cmd("MAIL FROM:<c@example.org>", "250")
		d.cmd("RCPT TO:<d@example.test>", "250")
		n := q.count()
		d.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(second), second))
		d.expect("250 2.0.0 Ok: queued")
		if q.count() != n+1 {
			t.Fatalf("%s: %d queued, want %d", bad, q.count(), n+1)
		}
		q.mu.Lock()
		got, m := string(dropTrace(q.bodies[n])), q.msgs[n]
		q.mu.Unlock()
		if got != second || m.From != "c@example.org" {
			t.Fatalf("%s: stored from %q: %.60q, want the second message alone", bad, m.From, got)
		}
		d.cmd("QUIT", "221")
	}
	// So does a MAIL, RCPT or DATA in the middle of a transfer: the
	// client has lost track of it, and its next chunk must not be added.
	for _, bad := range []string{"MAIL FROM:<c@example.org>", "RCPT TO:<d@example.test>", "DATA"} {
		d := dial(t, s, "")
		d.expect("220")
		d.cmd("EHLO c", "250")
		d.cmd("MAIL FROM:<a@example.org>", "250")
		d.cmd("RCPT TO:<b@example.test>", "250")
		d.send(fmt.Sprintf("BDAT %d\r\n%s", len(first), first))
		d.expect("250")
		waitSpoolFiles(t, dir, 1)
		d.cmd(bad, "503 5.5.1")
		waitSpoolFiles(t, dir, 0)
		n := q.count()
		d.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(second), second))
		d.expect("503 5.5.1") // no transaction: nothing appended, nothing queued
		d.cmd("MAIL FROM:<c@example.org>", "250")
		if q.count() != n {
			t.Fatalf("%s: a message was queued", bad)
		}
		d.cmd("QUIT", "221")
	}
	// Outside a transfer a malformed BDAT is only a syntax error: the
	// transaction (MAIL, RCPT) stands.
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.cmd("BDAT 5 LASTX", "501 5.5.4")
	d.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(second), second))
	d.expect("250 2.0.0 Ok: queued")
}
