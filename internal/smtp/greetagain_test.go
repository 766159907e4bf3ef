package smtp

import (
	"fmt"
	"testing"
)

// SMTP-1 (RFC 3207 §4.2, RFC 3030 §2; frontrt35 F3): after STARTTLS and
// before the new EHLO every command but EHLO, HELO, NOOP, RSET and QUIT
// is answered "503 5.5.1 Send EHLO first (state discarded by STARTTLS)"
// — BDAT too, not "BDAT needs MAIL and RCPT first": a well-formed BDAT's
// chunk is still read and dropped (the reply says so, as BDAT's other
// refusals do), a malformed one reads none.
func TestSMTP1EveryVerbAfterStartTLSSaysSendEHLO(t *testing.T) {
	cert, key, pool := testCert(t)
	s := startShadowServer(t, &fakeQueue{}, &fakeShadow{notes: map[string][]string{}}, true, connectors(t, fmt.Sprintf(`
  - name: internet
    bindings: ["127.0.0.150:7501"]
    tls: {cert_file: %q, key_file: %q}
    permissions: {anonymous: [submit]}
`, cert, key)))
	d := dial(t, s, "127.0.0.150")
	d.expect("220")
	d.cmd("EHLO c.test", "250")
	d.startTLS(pool)
	d.send("BDAT 3 LAST\r\nabc")
	if got, want := d.expect("503"), replyGreetAgain+"; chunk discarded"; got != want {
		t.Errorf("BDAT 3 LAST after STARTTLS, before EHLO: %q, want %q", got, want)
	}
	for _, v := range []string{"BDAT x", "MAIL FROM:<a@b.test>", "RCPT TO:<a@b.test>", "DATA", "VRFY a", "EXPN a", "HELP", "ETRN b.test", "STARTTLS", "XFOO"} {
		if got := d.cmd(v, "503"); got != replyGreetAgain {
			t.Errorf("after STARTTLS, before EHLO, %s: %q, want %q", v, got, replyGreetAgain)
		}
	}
	d.cmd("NOOP", "250") // no chunk byte was taken for a command
	d.cmd("EHLO c.test", "250")
	d.cmd("QUIT", "221")
}
