package smtp

import (
	"fmt"
	"strings"
	"testing"
)

// SMTP-1 (RFC 6152): content with a byte above 127 received without
// BODY=8BITMIME (BODY=7BIT, or no BODY) is taken as 8BITMIME — umbra
// offers it — decided once at the end of data, before the 250: the
// record says 8-bit, so every later step (delivery's MAIL, a shadow copy
// on receipt, a DSN) treats it as it treats a declared 8BITMIME
// message. 7-bit content stays 7-bit whatever was declared. In memory
// and spooled, DATA and BDAT alike.
func TestUndeclaredEightBitTakenAsEightBitMIME(t *testing.T) {
	st, _ := spoolStore(t)
	q := &bodyQueue{}
	s := startSpoolServer(t, q, st, 16<<10, 0, connectors(t, `
  - name: mx
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
`)...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO client.test", "250")
	big := strings.Repeat(strings.Repeat("x", 78)+"\r\n", 300) // past the spool threshold
	k := 0
	for _, c := range []struct {
		param, body string
		bdat, want  bool
	}{
		{"", "caf\xc3\xa9\r\n", false, true},
		{" BODY=7BIT", "caf\xc3\xa9\r\n", false, true},
		{" BODY=7BIT", "cafe\r\n", false, false},
		{"", "cafe\r\n", false, false},
		{" BODY=8BITMIME", "cafe\r\n", false, true}, // declared: kept as declared
		{" BODY=7BIT", big + "caf\xc3\xa9\r\n", false, true},
		{"", big + "cafe\r\n", false, false},
		{" BODY=7BIT", "caf\xc3\xa9\r\n", true, true},
		{"", big + "caf\xc3\xa9\r\n", true, true},
		{"", "Subject: \xc3\xa9\r\n\r\ncafe\r\n", false, true}, // in the header section
		{"", "Subject: \xc3\xa9\r\n\r\n" + big, false, true},   // there, spooled
	} {
		d.cmd("MAIL FROM:<a@sender.test>"+c.param, "250")
		d.cmd("RCPT TO:<u@example.test>", "250")
		msg := "Subject: t\r\n\r\n" + c.body
		if strings.HasPrefix(c.body, "Subject:") {
			msg = c.body
		}
		if c.bdat {
			d.send(fmt.Sprintf("BDAT %d LAST\r\n", len(msg)) + msg)
			d.expect("250")
		} else {
			d.cmd("DATA", "354")
			d.cmd(msg+".", "250")
		}
		if n := q.count(); n != k+1 {
			t.Fatalf("%d: %d messages queued", k, n)
		}
		if got := q.msgs[k].EightBit; got != c.want {
			t.Errorf("%d (%q, bdat %v, %d bytes): EightBit %v, want %v", k, c.param, c.bdat, len(msg), got, c.want)
		}
		k++
	}
	n := 0
	for _, sp := range q.spooled {
		if sp {
			n++
		}
	}
	if n != 4 {
		t.Errorf("%d bodies spooled, want the 4 past the threshold", n)
	}
}
