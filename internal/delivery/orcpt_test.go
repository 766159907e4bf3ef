package delivery

import (
	"testing"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/queue"
)

// An ORCPT goes on to the next hop as it came: rfc822, utf-8, and an
// address type umbra does not know, as given (RFC 3461 §4.2, rt17b-F5);
// one that is no atom is not passed on.
func TestRcptOptionsORCPTTypes(t *testing.T) {
	for _, c := range []struct {
		orcpt, typ, addr string
	}{
		{"RFC822;a@example.org", "RFC822", "a@example.org"},
		{"utf-8;é@example.org", "UTF-8", "é@example.org"},
		{"x-foo;bar", "x-foo", "bar"},
		{"X400;c=us;a= ", "X400", "c=us;a= "},
		{"x foo;bar", "", ""},
		{"", "", ""},
	} {
		ro := rcptOptions(&queue.Recipient{Addr: "b@example.net", ORcpt: c.orcpt})
		if ro.OriginalRecipientType != gosmtp.DSNAddressType(c.typ) || ro.OriginalRecipient != c.addr {
			t.Errorf("ORCPT %q: passed on as %q;%q, want %q;%q", c.orcpt, ro.OriginalRecipientType, ro.OriginalRecipient, c.typ, c.addr)
		}
	}
}
