package smtp

import (
	"fmt"
	"strings"
	"testing"
)

// fieldsAlone is a message of exactly n bytes that is a header section
// alone (no empty line, no body), its last line ended by CRLF or, as
// only BDAT can send it, by nothing.
func fieldsAlone(n int, lastCRLF bool) string {
	end := ""
	if lastCRLF {
		end = "\r\n"
	}
	b := "Subject: fields alone\r\n"
	for len(b)+80 < n {
		b += "X-Pad: " + strings.Repeat("p", 71) + "\r\n"
	}
	return b + "X-End: " + strings.Repeat("e", n-len(b)-7-len(end)) + end
}

// SMTP-5 (rrfront42, front42 F1): the empty line umbra adds after a
// header section that has none is not counted against a send-side limit
// (delivery sealedLen), but a receive connector's max_message_size holds
// the bytes the sender sent: a message of header fields alone one byte
// over the limit is refused at receipt (552 5.3.4) by DATA and by BDAT
// (whose last line may end without CRLF, to which umbra adds four bytes),
// one at the limit taken, and a SIZE of the limit plus the two bytes
// refused at MAIL — the send side's slack is never slack at receipt.
func TestSMTP5FieldsAloneOverReceiveLimitRefused(t *testing.T) {
	const limit = 4000
	addr := freeAddrIn(t, "127.0.0.142", 7700, 7799)
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, fmt.Sprintf(`
  - name: in
    bindings: [%q]
    permissions: {anonymous: [submit]}
    limits: {max_message_size: %d}
`, addr, limit))...)
	d := dial(t, s, "127.0.0.142")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd(fmt.Sprintf("MAIL FROM:<a@example.test> SIZE=%d", limit+2), "552 5.3.4")
	for _, tc := range []struct {
		n    int
		bdat bool
		crlf bool
		want string
	}{
		{limit, false, true, "250"},
		{limit + 1, false, true, "552 5.3.4"},
		{limit, true, true, "250"},
		{limit + 1, true, true, "552 5.3.4"},
		{limit, true, false, "250"},
		{limit + 1, true, false, "552 5.3.4"},
	} {
		msg := fieldsAlone(tc.n, tc.crlf)
		if len(msg) != tc.n {
			t.Fatalf("message of %d bytes, want %d", len(msg), tc.n)
		}
		d.cmd("MAIL FROM:<a@example.test>", "250")
		d.cmd("RCPT TO:<bob@example.test>", "250")
		if tc.bdat {
			d.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(msg), msg))
		} else {
			d.cmd("DATA", "354")
			d.send(msg + ".\r\n")
		}
		if r := d.reply(); !strings.HasPrefix(r, tc.want) {
			t.Errorf("%d bytes (BDAT %v, final CRLF %v): %q, want %s", tc.n, tc.bdat, tc.crlf, r, tc.want)
		}
		d.cmd("RSET", "250")
	}
	q.mu.Lock()
	n := len(q.msgs)
	q.mu.Unlock()
	if n != 3 {
		t.Errorf("%d messages queued, want the 3 at the limit", n)
	}
}
