package pickup

import (
	"slices"
	"testing"
)

// SR-12: smtp.RecipientRefusal now takes a quoted local
// part and a source route (it reads the address as a RCPT path), but
// Parse still queues the recipient as written, not as RCPT stores it.
// Two spellings of one mailbox then become two recipients (the next hop
// gets both RCPTs: a duplicate delivery), and "john.doe"@… is queued —
// and delivered into a Maildir — as another mailbox than john.doe@….
// The README: "sender and recipients are queued as RCPT stores them".
func TestSR12PickupQuotedRecipientQueuedAsRCPTStoresIt(t *testing.T) {
	for _, tc := range []struct {
		rcpts []string
		want  []string
	}{
		{[]string{`john.doe@relay.test`, `"john.doe"@relay.test`}, []string{`john.doe@relay.test`}},
		{[]string{`"john.doe"@relay.test`}, []string{`john.doe@relay.test`}},
		{[]string{`"a\"b"@relay.test`, `"a\\"b"@relay.test`}, nil}, // second: not one quoted string
		{[]string{`@a.test,@b.test:u@relay.test`}, []string{`u@relay.test`}},
		{[]string{`"a\,b"@relay.test`, `"a,b"@relay.test`}, []string{`"a,b"@relay.test`}},
	} {
		file := "X-Sender: s@example.org\r\n"
		for _, r := range tc.rcpts {
			file += "X-Receiver: " + r + "\r\n"
		}
		file += "Subject: x\r\n\r\nhi\r\n"
		env, _, err := Parse([]byte(file), nil)
		if tc.want == nil {
			if err == nil {
				t.Errorf("%q: queued %q, want the file refused", tc.rcpts, env.Rcpts)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.rcpts, err)
			continue
		}
		if !slices.Equal(env.Rcpts, tc.want) {
			t.Errorf("%q: queued as %q, want %q (as RCPT stores it)", tc.rcpts, env.Rcpts, tc.want)
		}
	}
}
