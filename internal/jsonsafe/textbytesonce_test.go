package jsonsafe

import "testing"

// OPS-3: the text rule of an error is applied once: a name in the text
// form already (\xNN) is left as it is, a raw byte is written \xNN, a
// backslash run before a raw byte doubled (as textSafe shows it).
func TestOPS3TextBytesOnceIsIdempotent(t *testing.T) {
	for in, want := range map[string]string{
		`no status "a\xffb"`:        `no status "a\xffb"`,
		"no status \"a\xffb\"":      `no status "a\xffb"`,
		"a\\\xffb":                  `a\\\xffb`,
		`plain \\x text`:            `plain \\x text`,
		"mixed \\xff and \xfe":      `mixed \xff and \xfe`,
		"ünïcode \\xzz stays as is": "ünïcode \\xzz stays as is",
	} {
		got := TextBytesOnce(in)
		if got != want {
			t.Errorf("TextBytesOnce(%q) = %q, want %q", in, got, want)
		}
		if again := TextBytesOnce(got); again != got {
			t.Errorf("TextBytesOnce twice on %q: %q, want %q", in, again, got)
		}
	}
}
