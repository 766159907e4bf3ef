package pickup

import (
	"fmt"
	"testing"
)

// A pickup recipient (and sender) is queued in the canonical form RCPT
// gives it (SR-12, rt16d F1): the domain without its final dot and in
// lower case, the local part as written. Validation, the Maildir path and
// the relayed RCPT then see the address RCPT would have stored.
func TestParseRecipientCanonical(t *testing.T) {
	for _, c := range []struct{ file, from, rcpts string }{
		{"X-Sender: S@Example.Test.\nX-Receiver: nosuch@example.test.\nX-Receiver: U@Example.Test.\nX-Receiver: <u@loop.test.>\nSubject: x\n\nbody\n",
			"S@example.test", "[nosuch@example.test U@example.test u@loop.test]"},
		{"From: a@Example.Test\nTo: u@example.test, v@EXAMPLE.test\nSubject: x\n\nbody\n",
			"a@example.test", "[u@example.test v@example.test]"},
		{"X-Receiver: u@example.test\nX-Receiver: u@example.test.\nSubject: x\n\nbody\n",
			"", "[u@example.test]"},
	} {
		env, _, err := Parse([]byte(c.file), nil)
		if err != nil {
			t.Fatal(err)
		}
		if env.From != c.from || fmt.Sprint(env.Rcpts) != c.rcpts {
			t.Errorf("from %q recipients %s, want %q %s", env.From, env.Rcpts, c.from, c.rcpts)
		}
	}
}
