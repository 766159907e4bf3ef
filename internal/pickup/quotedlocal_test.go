package pickup

import (
	"slices"
	"testing"
)

// SR-12: pickup takes the quoted local parts RCPT takes. "an na"@… in
// X-Receiver (bare or in angle brackets) and in To/Cc/Bcc is queued in
// its quoted form, as RCPT stores it — not refused as a bad address, and
// not read out of a header with its quotes lost (an na@…, no address).
// The sender likewise, from X-Sender or From.
func TestSR12PickupTakesQuotedLocalPartsAsRCPT(t *testing.T) {
	for _, tc := range []struct {
		head  string
		from  string
		rcpts []string
	}{
		{"X-Sender: s@example.org\r\nX-Receiver: \"an na\"@remote.test\r\n", "s@example.org", []string{`"an na"@remote.test`}},
		{"X-Sender: s@example.org\r\nX-Receiver: <\"an na\"@remote.test>\r\n", "s@example.org", []string{`"an na"@remote.test`}},
		{"From: s@example.org\r\nTo: \"an na\"@remote.test\r\n", "s@example.org", []string{`"an na"@remote.test`}},
		{"From: s@example.org\r\nTo: Anna <\"an na\"@remote.test>, b@remote.test\r\nCc: \"a\\\"b\"@remote.test\r\n", "s@example.org",
			[]string{`"an na"@remote.test`, `b@remote.test`, `"a\"b"@remote.test`}},
		{"From: s@example.org\r\nBcc: \"an na\"@remote.test\r\n", "s@example.org", []string{`"an na"@remote.test`}},
		{"From: \"se nder\"@example.org\r\nTo: b@remote.test\r\n", `"se nder"@example.org`, []string{`b@remote.test`}},
		{"X-Sender: \"se nder\"@example.org\r\nX-Receiver: b@remote.test\r\n", `"se nder"@example.org`, []string{`b@remote.test`}},
	} {
		env, _, err := Parse([]byte(tc.head+"Subject: x\r\n\r\nhi\r\n"), nil)
		if err != nil {
			t.Errorf("%q: %v, want it taken as RCPT takes it", tc.head, err)
			continue
		}
		if env.From != tc.from || !slices.Equal(env.Rcpts, tc.rcpts) {
			t.Errorf("%q: queued from %q to %q, want from %q to %q", tc.head, env.From, env.Rcpts, tc.from, tc.rcpts)
		}
	}
	// Still refused: an unquoted space is no address, as at RCPT.
	for _, head := range []string{"X-Receiver: an na@remote.test\r\n", "X-Sender: se nder@example.org\r\nX-Receiver: b@remote.test\r\n"} {
		if env, _, err := Parse([]byte(head+"Subject: x\r\n\r\nhi\r\n"), nil); err == nil {
			t.Errorf("%q: queued from %q to %q, want the file refused", head, env.From, env.Rcpts)
		}
	}
}
