package header

import (
	"testing"
)

// SMTP-5 (rt21b M1's sibling): the header section these functions read
// ends where the receive side ends it — at the empty line or at the
// first line that is neither a field (FieldStart) nor a continuation of
// one — whatever the caller hands them, so a field-looking line in the
// body (a Received:, a From:, a forged Authentication-Results) is never
// counted, read or removed.
func TestSectionEndsAtLineThatIsNoField(t *testing.T) {
	for _, msg := range []string{
		"garbage first line\r\nFrom: a@evil.test\r\nReceived: x\r\n\r\nbody\r\n",
		"\xef\xbb\xbfX-Hi: there\r\nFrom: a@evil.test\r\nReceived: x\r\n",
		" X-First: x\r\nFrom: a@evil.test\r\nReceived: x\r\n",
		"Subject: s\r\nFrom ceo@example.org Thu Dec  3 00:00:00 2026\r\nFrom: a@evil.test\r\nReceived: x\r\n",
		"Subject: s\r\nBad Name: x\r\nFrom: a@evil.test\r\nReceived: x\r\n",
	} {
		if n := Count([]byte(msg), "Received"); n != 0 {
			t.Errorf("%q: Count(Received) = %d, want 0", msg, n)
		}
		if v := Values([]byte(msg), "From"); len(v) != 0 {
			t.Errorf("%q: Values(From) = %q, want none", msg, v)
		}
		if out := Remove([]byte(msg), "From", "Received"); string(out) != msg {
			t.Errorf("%q: Remove changed the body: %q", msg, out)
		}
		if v := AddressPaths([]byte(msg), "From"); len(v) != 0 {
			t.Errorf("%q: AddressPaths found a body line: %q", msg, v)
		}
	}
	// Fields before such a line are read; the obsolete blanks before the
	// colon still make one.
	msg := []byte("Received: a\r\nReceived : b\r\n folded\r\ngarbage\r\nReceived: c\r\n")
	if n := Count(msg, "Received"); n != 2 {
		t.Errorf("Count = %d, want 2", n)
	}
	if out := Remove(msg, "Received"); string(out) != "garbage\r\nReceived: c\r\n" {
		t.Errorf("Remove: %q", out)
	}
}
