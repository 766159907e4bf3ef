package queue

import (
	"strings"
	"testing"
)

// OPS-4 (rt21d L6): a Message-ID is kept in one form, whatever folding
// or comments the sender's field had around and inside the id, so that
// umbra track --message-id '<id>' finds the message; quoted text keeps
// its spaces; longer than 998 octets is cut.
func TestCutMessageIDUnfoldsAndRemovesCFWS(t *testing.T) {
	long := "<" + strings.Repeat("b", 1200) + "@rt21d.test>"
	for _, c := range []struct{ in, want string }{
		{"<bbb@rt21d.test>", "<bbb@rt21d.test>"},
		{"  <bbb@rt21d.test>  ", "<bbb@rt21d.test>"},
		{"<bbb@\r\n rt21d.test>", "<bbb@rt21d.test>"},
		{"<bbb@ rt21d.test>", "<bbb@rt21d.test>"},
		{"<bbb\t@\trt21d.test>", "<bbb@rt21d.test>"},
		{"(a comment) <bbb@rt21d.test> (another (nested))", "<bbb@rt21d.test>"},
		{"<bbb@(inside)rt21d.test>", "<bbb@rt21d.test>"},
		{"<\"a b\"@rt21d.test>", "<\"a b\"@rt21d.test>"},
		{"<\"a (b)\"@rt21d.test>", "<\"a (b)\"@rt21d.test>"},
		{"no brackets at all", "no brackets at all"},
		{"", ""},
		{long, long[:MaxMessageIDLen]},
	} {
		if got := CutMessageID(c.in); got != c.want {
			t.Errorf("CutMessageID(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
