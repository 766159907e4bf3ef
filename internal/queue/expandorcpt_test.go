package queue

import (
	"strings"
	"testing"
)

// SMTP-1 (rr27 F3): a utf-8 group address gives its members an ORCPT of type
// rfc822 holding UTF-8, which RFC 3461 (rfc822: ASCII) forbids and no
// encoder on the wire writes (delivery: rr27_grouporcpt_test.go); RFC
// 6533 types such an address utf-8.
func TestSMTP1ExpandUTF8GroupOrcptType(t *testing.T) {
	m := &Message{Rcpts: []Recipient{{Addr: "\u00e9quipe@example.test"}}}
	if !expandInto(m, 0, []string{"a@outside.example"}, nil) {
		t.Fatal("nothing added")
	}
	if o := m.Rcpts[1].ORcpt; strings.HasPrefix(strings.ToLower(o), "rfc822;") {
		t.Fatalf("member's ORCPT %q: a non-ASCII address typed rfc822 (want utf-8;…)", o)
	}
}
