package pickup

import (
	"strings"
	"testing"
)

// SMTP-5 (rt21b M1's sibling): a pickup file's header section is read
// by the receive side's rule (header.FieldStart): a line before the
// empty line that is neither a header field nor a continuation of one —
// an mbox "From " line (its time has colons), a name with a space, a
// byte-order mark before a field, a first line that continues nothing —
// makes the file unreadable (NAME.bad), as a line without a colon does.
// Queued, it would be header to this server's DKIM signing and trace
// work but body to every next hop, which ends the header section there
// (and a From: below it would be no author there).
func TestParseHeaderLinesAreFields(t *testing.T) {
	for _, line := range []string{
		"From ceo@example.org Thu Dec  3 00:00:00 2026",
		"Bad Name: x",
		"\xef\xbb\xbfX-Hi: there",
		"Sübject: x",
	} {
		for _, file := range []string{
			line + "\r\nX-Receiver: a@example.test\r\nFrom: a@example.org\r\n\r\nbody\r\n",
			"X-Receiver: a@example.test\r\n" + line + "\r\nFrom: a@example.org\r\n\r\nbody\r\n",
		} {
			if _, _, err := Parse([]byte(file), nil); err == nil || !strings.Contains(err.Error(), "malformed header line") {
				t.Errorf("Parse(%q): %v, want a malformed header line", file, err)
			}
		}
	}
	if _, _, err := Parse([]byte(" X-Lead: continues nothing\r\nX-Receiver: a@example.test\r\n\r\nbody\r\n"), nil); err == nil {
		t.Error("a first line that continues nothing was taken")
	}
	// The obsolete blanks before the colon still make a field (RFC 5322
	// §4.5.3), as on the receive side.
	if env, _, err := Parse([]byte("X-Receiver : a@example.test\r\nSubject\t: x\r\n\r\nbody\r\n"), nil); err != nil || len(env.Rcpts) != 1 {
		t.Errorf("obsolete field syntax: %+v, %v", env, err)
	}
}
