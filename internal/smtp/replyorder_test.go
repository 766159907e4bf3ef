package smtp

import (
	"strings"
	"testing"
)

// rt31 F3: a nested MAIL is out of sequence whatever its parameters (a
// SIZE over the limit, an unknown one): 503, and the open transaction
// stays. The reply to EHLO/HELO echoes the client's name with control
// bytes and bytes past ASCII escaped, never raw.
func TestNestedMailBeforeParametersAndHelloEscaped(t *testing.T) {
	s := startWithChecks(t, &fakeQueue{})
	d := dial(t, s, "")
	d.expect("220")
	got := d.cmd("EHLO x\x01\x1b[31mevil\xff", "250")
	if first, _, _ := strings.Cut(got, "\n"); first != `250-Hello x\x01\x1b[31mevil\xff` {
		t.Errorf("EHLO reply's first line %q", first)
	}
	if got := d.cmd("HELO y\x7f", "250"); got != `250 2.0.0 Hello y\x7f` {
		t.Errorf("HELO reply %q", got)
	}
	d.cmd("EHLO client.test", "250")
	d.cmd("MAIL FROM:<a@b.example>", "250")
	d.cmd("MAIL FROM:<a@b.example> SIZE=999999999999", "503 5.5.1 Nested MAIL")
	d.cmd("MAIL FROM:<a@b.example> FOO=bar", "503 5.5.1 Nested MAIL")
	d.cmd("RCPT TO:<u@example.test>", "250") // the open transaction stays
	d.cmd("RSET", "250")
	d.cmd("MAIL FROM:<a@b.example> SIZE=999999999999", "552 5.3.4")
}

// VRFY promises nothing RCPT may refuse (README: umbra never accepts what
// it would later bounce).
func TestVRFYPromisesNoAcceptance(t *testing.T) {
	s := startWithChecks(t, &fakeQueue{})
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO client.test", "250")
	if got := d.cmd("VRFY nobody@example.test", "252 2.5.0"); strings.Contains(got, "accept message") {
		t.Fatalf("VRFY reply %q promises acceptance", got)
	}
}
