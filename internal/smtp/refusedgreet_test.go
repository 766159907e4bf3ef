package smtp

import (
	"strings"
	"testing"

	gosmtp "github.com/emersion/go-smtp"
)

// SMTP-1, EDGE-1: a client a connection check refused (554 5.7.1 at its
// greeting: RFC 5321 §3.1) may only QUIT. Every other command, NOOP and
// RSET included, gets 503 5.5.1 naming the refusal; a greeting is not
// asked again; QUIT gets 221 and closes.
func TestRefusedClientOnlyQuits(t *testing.T) {
	const refused = "503 5.5.1 This connection was refused (554 5.7.1): only QUIT is accepted"
	cmds := []string{
		"EHLO client.test", "HELO client.test", "EHLO other.test",
		"MAIL FROM:<a@sender.test>", "RCPT TO:<u@example.test>", "DATA",
		"BDAT 0 LAST", "BDAT x", "STARTTLS", "AUTH PLAIN AGFiAGM=",
		"VRFY u@example.test", "EXPN list", "HELP", "NOOP", "RSET",
		"XSHADOW hub1", "XQUERYDISCARD 10", "XQDISCARD 10", "XQUERYHELD 10",
		"XQUERYDROPPED 10", "XDISCARD id1", "ETRN example.test", "FOO bar",
	}
	for _, c := range cmds {
		t.Run(c, func(t *testing.T) {
			ck := &scripted{connect: checkRefuse(554, gosmtp.EnhancedCode{5, 7, 1}, "listed")}
			s := startWithChecks(t, &fakeQueue{}, ck)
			d := dial(t, s, "")
			d.expect("220")
			d.cmd("EHLO client.test", "554 5.7.1 listed")
			d.cmd(c, refused)
			d.cmd(c, refused) // not once: every time
			if n := strings.Count(strings.Join(ck.seen, "|"), "connect"); n != 1 {
				t.Fatalf("connection checks asked %d times: %v", n, ck.seen)
			}
			d.cmd("QUIT", "221")
		})
	}
}

// SMTP-1: the 503 names the codes the client read in the refusal: a
// check's reply without an enhanced code went out with its class alone
// (5.0.0), and the 503 says so too (codesOf).
func TestRefusedClientNamesCodesAsRead(t *testing.T) {
	ck := &scripted{connect: checkRefuse(554, gosmtp.EnhancedCodeNotSet, "listed")}
	s := startWithChecks(t, &fakeQueue{}, ck)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO client.test", "554 5.0.0 listed")
	d.cmd("NOOP", "503 5.5.1 This connection was refused (554 5.0.0): only QUIT is accepted")
	d.cmd("QUIT", "221")
}
