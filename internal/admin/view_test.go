package admin

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSubjectOf(t *testing.T) {
	for body, want := range map[string]string{
		"Received: from x\r\n\tby y\r\nSubject: hello\r\n\r\nbody":  "hello",
		"Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\r\nFrom: a@b\r\n\r\n": "Grüße",
		"From: a@b\r\n\r\nSubject: in the body\r\n":                 "",
		"Subject: folded\r\n line\r\n\r\n":                          "folded line",
		"no header section at all":                                  "",
		"Subject: " + strings.Repeat("x", 300<<10) + "\r\n\r\n":     "", // cut at 256 KiB: no complete header
	} {
		if got := subjectOf([]byte(body)); got != want {
			t.Errorf("%.40q: %q, want %q", body, got, want)
		}
	}
}

func FuzzSubjectOf(f *testing.F) {
	for _, s := range []string{"Subject: a\r\n\r\n", "Subject: =?utf-8?b?w6TDtg==?=\r\n\r\n", "Subject:\r\n \r\n\r\n", ":\r\n\r\n", "\x00"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s := subjectOf(b)
		if len(s) > len(b)*4+16 {
			t.Fatalf("subject longer than the input allows: %d from %d", len(s), len(b))
		}
		_ = utf8.ValidString(s)
	})
}

// A Subject holding a control character (an ESC a sender put there) or
// a byte that is not UTF-8 is the message's Subject all the same: the
// API escapes it when it writes it, it does not drop it.
func TestSubjectOfControlsAndBytes(t *testing.T) {
	for body, want := range map[string]string{
		"Subject: esc \x1b[31mRED\x1b[0m\r\n\r\n": "esc \x1b[31mRED\x1b[0m",
		"Subject: latin \xe9\r\n\r\n":             "latin \xe9",
		"X: \x01\r\nSubject: after\r\n\r\n":       "after",
	} {
		if got := subjectOf([]byte(body)); got != want {
			t.Errorf("%q: %q, want %q", body, got, want)
		}
	}
}
