package smtp

import (
	"strings"
	"testing"
)

// rt31 F3: a nested MAIL is out of sequence whatever its parameters (a
// SIZE over the limit, an unknown one): 503, and the open transaction
// stays. An EHLO/HELO name with control bytes or bytes past ASCII is
// refused (helosyntax.go), never echoed.
func TestNestedMailBeforeParametersAndHelloEscaped(t *testing.T) {
	s := startWithChecks(t, &fakeQueue{})
	d := dial(t, s, "")
	d.expect("220")
	if got := d.cmd("EHLO x\x01\x1b[31mevil\xff", "501 5.5.4"); strings.Contains(got, "evil") {
		t.Errorf("EHLO refusal echoes the name: %q", got)
	}
	if got := d.cmd("HELO y\x7f", "501 5.5.4"); strings.Contains(got, "x7f") {
		t.Errorf("HELO refusal echoes the name: %q", got)
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
