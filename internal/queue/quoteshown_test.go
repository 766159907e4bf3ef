package queue

import (
	"errors"
	"strings"
	"testing"

	"umbra/internal/jsonsafe"
)

// rt47 F3: a name or id echoed in a refusal never carries a raw control
// character (the CLI keeps tab and newline in an error's text): it is
// written \xNN, the byte, and reads back as the name given.
func TestQuoteShownEscapesControls(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"a\tb", `"a\x09b"`},
		{"q\nx", `"q\x0ax"`},
		{"e\x1b[2J", `"e\x1b[2J"`},
		{"a\\\tb", `"a\\\x09b"`}, // a backslash before the tab: doubled, so the \x09 is the byte
		{`a\x09`, `"a\\x09"`},    // the text \x09: doubled by the one rule
		{"caf\xe9", `"caf\xe9"`},
		{"plain", `"plain"`},
	} {
		got := QuoteShown(c.in)
		if got != c.want {
			t.Errorf("QuoteShown(%q) = %s, want %s", c.in, got, c.want)
		}
		if back := jsonsafe.FromTextBytes(strings.Trim(got, `"`)); back != c.in {
			t.Errorf("%s reads back as %q, want %q", got, back, c.in)
		}
	}
	if _, err := ParseID("a\tb"); err == nil || strings.ContainsAny(err.Error(), "\t\n") || !strings.Contains(err.Error(), `a\x09b`) {
		t.Errorf("ParseID: %q", err)
	}
	var une *UnknownNameError
	err := error(&UnknownNameError{Kind: "queue", Name: "q\tx", Valid: []string{"a\nb"}})
	if !errors.As(err, &une) || strings.ContainsAny(err.Error(), "\t\n") {
		t.Errorf("unknown queue: %q", err)
	}
}
