package smtp

import (
	"fmt"
	"strings"
	"testing"
)

// try sends one command and reports (not fatally) a reply that does not
// start with want.
func (d *dialog) try(line, want string) {
	d.t.Helper()
	d.send(line + "\r\n")
	got := d.reply()
	if !strings.HasPrefix(got[strings.LastIndex(got, "\n")+1:], want) {
		d.t.Errorf("%q: got %q, want %q", line, got, want)
	}
}

// A command out of sequence is answered 503 5.5.1 even when its
// parameters are malformed too: the state is checked first, then the
// syntax (RFC 5321 §4.1.4, §4.3.2; SMTP-1). And ESMTP parameters on
// MAIL or RCPT after a plain HELO are refused 555 5.5.4 (RFC 5321
// §4.1.1.11: only a client that sent EHLO may use them).
func TestSequenceBeforeSyntax(t *testing.T) {
	s := startServer(t, &fakeQueue{}, connectors(t, fmt.Sprintf(`
  - name: default
    bindings: ["127.0.0.1:0"]
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit]}
    limits: {max_errors: 100, soft_error_limit: 100, max_junk_commands: 100}
`, credsFile(t)))...)
	d := dial(t, s, "")
	d.expect("220")
	// Before any greeting.
	for _, c := range []string{"MAIL FROM:<a@sender.test>", "MAIL FROM:bad", "MAIL", "MAIL FROM:<a@sender.test> BOGUS=1",
		"MAIL FROM:<a@sender.test> SMTPUTF8 SMTPUTF8", "MAIL FROM:<a@sender.test> SIZE=99999999999", "AUTH", "AUTH PLAIN !!!!",
		"RCPT TO:<u@example.test>", "RCPT TO:<bad", "DATA", "DATA junk", "BDAT x", "BDAT 0 LAST"} {
		d.try(c, "503 5.5.1")
	}
	d.cmd("EHLO c", "250")
	// No transaction.
	for _, c := range []string{"RCPT TO:<bad", "RCPT", "RCPT TO:<u@example.test> BOGUS=1", "RCPT FROM:<u@example.test>",
		"RCPT TO:<u@example.test> NOTIFY=NEVER NOTIFY=NEVER",
		"DATA", "DATA junk", "BDAT x", "BDAT 0 LAST"} {
		d.try(c, "503 5.5.1")
	}
	d.cmd("MAIL FROM:<a@sender.test>", "250")
	// A transaction without recipients.
	for _, c := range []string{"DATA", "DATA junk", "BDAT 0 LAST", "BDAT x",
		"AUTH", "AUTH PLAIN !!!!", "AUTH PLAIN AGFsaWNlAHNlY3JldA==", "AUTH BOGUS"} {
		d.try(c, "503 5.5.1")
	}
	// BDAT x inside a transaction ended it (a refused BDAT ends the
	// transfer's transaction), so begin again.
	d.cmd("RSET", "250")
	d.cmd("MAIL FROM:<a@sender.test>", "250")
	d.try("MAIL FROM:bad", "503 5.5.1") // nested MAIL
	d.cmd("RSET", "250")

	h := dial(t, s, "")
	h.expect("220")
	h.cmd("HELO c", "250")
	h.try("MAIL FROM:<a@sender.test> SIZE=10", "555 5.5.4")
	h.try("MAIL FROM:<a@sender.test> BODY=8BITMIME", "555 5.5.4")
	h.cmd("MAIL FROM:<a@sender.test>", "250")
	h.try("RCPT TO:<u@example.test> NOTIFY=NEVER", "555 5.5.4")
	h.cmd("RCPT TO:<u@example.test>", "250")

	// After a successful AUTH, a malformed AUTH is still out of sequence.
	a := dial(t, s, "")
	a.expect("220")
	a.cmd("EHLO c", "250")
	a.cmd(plainAlice, "235")
	a.try("AUTH", "503 5.5.1")
	a.try("AUTH PLAIN !!!!", "503 5.5.1")
}

// XSHADOW inside a transaction is out of sequence whatever its
// arguments: 503 5.5.1 before the syntax (SMTP-1, W-2).
func TestXShadowSequenceBeforeSyntax(t *testing.T) {
	s := startWith(t, ServerConfig{Connectors: transportConnector(t, ""), Shadow: &fakeShadow{notes: map[string][]string{}}, ShadowEnabled: true})
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	d.cmd("MAIL FROM:<a@sender.test>", "250")
	for _, c := range []string{"XSHADOW", "XSHADOW hub2 BOGUS", "XSHADOW hub2"} {
		d.try(c, "503 5.5.1")
	}
}

// DATA out of sequence names what is missing first: MAIL when there is
// no transaction, RCPT when MAIL was given (it used to say "Missing RCPT
// TO command." for both; SMTP-1).
func TestDataSequenceNamesMissingCommand(t *testing.T) {
	s := startServer(t, &fakeQueue{}, connectors(t, `
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {max_errors: 100, soft_error_limit: 100, max_junk_commands: 100}
`)...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.try("DATA", "503 5.5.1 Send MAIL first")
	d.try("DATA junk", "503 5.5.1 Send MAIL first")
	d.cmd("MAIL FROM:<a@sender.test>", "250")
	d.try("DATA", "503 5.5.1 Send RCPT first")
	d.try("DATA junk", "503 5.5.1 Send RCPT first")
}
