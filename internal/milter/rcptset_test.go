package milter

import (
	"slices"
	"strings"
	"testing"

	"umbra/internal/mailaddr"
)

// A milter's added or deleted recipient names the one the list holds as
// RCPT compares them: the local part exact for a relayed domain ("TD@"
// and "td@" are two mailboxes there), in ASCII case for an authoritative
// one (rt17b-F2).
func TestRcptSetLocalPartCase(t *testing.T) {
	owned := func(a string) string {
		a = strings.TrimSuffix(a, ".")
		return mailaddr.RcptKey(a, strings.HasSuffix(a, "@example.test"))
	}
	rs := newRcptSet([]string{"TD@good.test", "Bob@example.test"}, owned)
	rs.add("td@good.test")     // a second mailbox
	rs.add("td@GOOD.test.")    // the same as the last
	rs.add("BOB@example.test") // Bob's
	rs.del("bob@example.test") // Bob deleted
	if got, want := rs.list(), []string{"TD@good.test", "td@good.test"}; !slices.Equal(got, want) {
		t.Errorf("list %q, want %q", got, want)
	}
	rs = newRcptSet([]string{"TD@good.test"}, nil)
	rs.del("td@good.test")
	if got := rs.list(); !slices.Equal(got, []string{"TD@good.test"}) {
		t.Errorf("deleting td@ removed TD@: %q", got)
	}
}
