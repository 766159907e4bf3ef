package smtp

import (
	"fmt"
	"testing"

	"umbra/internal/orgid"
)

// rravail40 (SR-17, W-2, SMTP-3): a copy skips the holder's recipient
// validation and edge checks of MAIL and RCPT (copyOfPrimary), never its
// rights: XSHADOWCOPY= outside a shadow session — anonymous, a user's
// login — is refused before any recipient, and in a shadow session whose
// server has no relay right here a copy for a domain the holder does not
// accept is refused (and with it the whole copy), while one for an
// accepted domain is kept.
func TestSR17CopyNeedsHolderRights(t *testing.T) {
	q := &copyQueue{}
	sh := &signalShadow{fakeShadow: fakeShadow{notes: map[string][]string{}}, sig: discardSig{ch: map[string]chan struct{}{}}}
	s := startShadowServer(t, q, sh, true, connectors(t, fmt.Sprintf(`
  - name: transport
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit], servers: [submit, accept-xshadow]}
`, rcptMaxAddr(t), credsFile(t))))
	body := orgid.Header + ": " + orgid.New() + "\r\nSubject: copy\r\n\r\nhello\r\n."

	anon := dial(t, s, "127.0.0.212")
	anon.expect("220")
	anon.cmd("EHLO client.test", "250")
	anon.cmd("MAIL FROM:<a@example.org> XSHADOWCOPY=db1", "503 5.5.1 XSHADOWCOPY parameter outside a shadow session")
	anon.cmd("RCPT TO:<x@elsewhere.org>", "503")

	user := dial(t, s, "127.0.0.212")
	user.expect("220")
	user.cmd("EHLO client.test", "250")
	user.cmd(authAlice, "235")
	user.cmd("XSHADOW hub2", "550 5.7.1")
	user.cmd("MAIL FROM:<a@example.org> XSHADOWCOPY=db1", "503 5.5.1 XSHADOWCOPY parameter outside a shadow session")

	d := dial(t, s, "127.0.0.212")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2", "250")
	d.cmd("MAIL FROM:<a@example.org> XSHADOWCOPY=db1", "250")
	d.cmd("RCPT TO:<u@example.test>", "250")
	d.cmd("RCPT TO:<x@elsewhere.org>", "550 5.7.1 Relay access denied")
	d.cmd("DATA", "354")
	d.cmd(body, "5") // all or nothing: refused whole
	d.cmd("MAIL FROM:<a@example.org> XSHADOWCOPY=db1", "250")
	d.cmd("RCPT TO:<u@example.test>", "250")
	d.cmd("DATA", "354")
	d.cmd(orgid.Header+": "+orgid.New()+"\r\nSubject: copy\r\n\r\nhello\r\n.", "250 2.0.0 Shadow copy kept")
	if len(q.copies) != 1 || len(q.copies[0].m.Rcpts) != 1 || q.copies[0].m.Rcpts[0].Addr != "u@example.test" {
		t.Fatalf("copies kept: %d", len(q.copies))
	}
}
