package smtp

import (
	"fmt"
	"strings"
	"testing"
)

// A command out of sequence is refused in umbra's words, the same for
// each command whichever layer answers it — never go-smtp's "Please
// introduce yourself first." or "Missing MAIL FROM command.": MAIL,
// AUTH and DATA before any greeting get 503 5.5.1 "Send EHLO first" (as
// STARTTLS and the shadow verbs do); RCPT with no MAIL "Send MAIL
// first", as DATA with none does; DATA with no recipient "Send RCPT
// first".
func TestSequenceRefusalsAreUmbrasWords(t *testing.T) {
	s := startServer(t, &fakeQueue{}, connectors(t, anon)...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("MAIL FROM:<a@ext.test>", "503 5.5.1 Send EHLO first")
	d.cmd("RCPT TO:<alice@example.test>", "503 5.5.1 Send MAIL first")
	d.cmd("DATA", "503 5.5.1 Send EHLO first")
	d.cmd("EHLO c", "250")
	d.cmd("RCPT TO:<alice@example.test>", "503 5.5.1 Send MAIL first")
	d.cmd("DATA", "503 5.5.1 Send MAIL first")
	d.cmd("MAIL FROM:<a@ext.test>", "250")
	d.cmd("DATA", "503 5.5.1 Send RCPT first")
	d.cmd("RCPT TO:<alice@example.test>", "250") // the transaction stands
	d.cmd("QUIT", "221")
}

// No reply line of go-smtp's own words of a command out of sequence is
// left for fixReplyCode to pass on: each is rewritten to umbra's.
func TestGoSMTPSequenceWordsRewritten(t *testing.T) {
	v := &verbConn{}
	for _, line := range []string{
		"502 5.5.1 Please introduce yourself first.\r\n",
		"502 5.5.1 Missing MAIL FROM command.\r\n",
		"502 5.5.1 Missing RCPT TO command.\r\n",
	} {
		got := string(v.fixReplyCode([]byte(line)))
		if strings.Contains(got, "introduce yourself") || strings.Contains(got, "Missing ") || !strings.HasPrefix(got, "503 5.5.1 ") {
			t.Errorf("%q: rewritten as %q", line, got)
		}
	}
}

// AUTH before any greeting, where a connector offers it, is refused as
// the other commands are: "Send EHLO first" (AUTH is a service
// extension), not go-smtp's "Please introduce yourself first.".
func TestAuthBeforeGreetingIsUmbrasWords(t *testing.T) {
	conns := connectors(t, fmt.Sprintf(`
  - name: sub
    bindings: ["127.0.0.1:0"]
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit, relay]}
`, credsFile(t)))
	s := startServer(t, &fakeQueue{}, conns...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd(authAlice, "503 5.5.1 Send EHLO first")
	d.cmd("AUTH PLAIN", "503 5.5.1 Send EHLO first")
	d.cmd("EHLO c", "250")
	d.cmd(authAlice, "235")
}
