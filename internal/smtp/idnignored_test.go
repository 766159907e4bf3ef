package smtp

import (
	"testing"
)

// A domain holding a character IDNA's mapping deletes or ignores (soft
// hyphen, zero-width space, word joiner, byte order mark, variation
// selectors, a joiner outside the context that allows it) is a second
// spelling of another domain: "exa\u00admple.test" maps to
// "example.test". Refused at RCPT with 553 5.1.3 and at MAIL with 553
// 5.1.7 (RFC 3463: the sender's address), so no such spelling passes
// the accepted-domain, relay or block lists under another name (SMTP-3, SMTP-6).
func TestIDNIgnoredCharactersRefused(t *testing.T) {
	s := startServer(t, &fakeQueue{}, connectors(t, `
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {max_errors: 100, soft_error_limit: 100}
`)...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	ignored := []string{"\u00ad", "\u200b", "\u2060", "\ufeff", "\ufe0f", "\U000E0100", "\u034f", "\u180b", "\u200d", "\u200c"}
	for _, r := range ignored {
		d.try("MAIL FROM:<a@exa"+r+"mple.org> SMTPUTF8", "553 5.1.7")
		d.try("RSET", "250")
	}
	d.cmd("MAIL FROM:<a@example.org> SMTPUTF8", "250")
	for _, r := range ignored {
		d.try("RCPT TO:<u@exa"+r+"mple.test>", "553 5.1.3")
	}
	d.cmd("RCPT TO:<u@example.test>", "250")
	d.cmd("RCPT TO:<u@b\u00fccher.example>", "250") // an ordinary U-label still passes
}

// An ORCPT of type utf-8 whose address is written as raw UTF-8
// (utf-8-addr-unitext) needs an SMTPUTF8 transaction (RFC 6533 §3):
// without one it is refused with 501 5.5.4. Its xtext form (\x{E9}),
// the form RFC 6533 gives a transaction without SMTPUTF8, is taken, as
// is the raw form in an SMTPUTF8 transaction.
func TestORCPTUTF8NeedsSMTPUTF8(t *testing.T) {
	s := startServer(t, &fakeQueue{}, connectors(t, `
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {max_errors: 100, soft_error_limit: 100}
`)...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.try("RCPT TO:<u@example.test> ORCPT=utf-8;\u00e9@example.test", "501 5.5.4")
	d.try("RCPT TO:<u@example.test> NOTIFY=NEVER ORCPT=utf-8;x\u00e9@example.test", "501 5.5.4")
	d.try(`RCPT TO:<u@example.test> ORCPT=utf-8;\x{E9}@example.test`, "250")
	d.try("RCPT TO:<v@example.test> ORCPT=utf-8;v@example.test", "250")
	d.try("RCPT TO:<w@example.test> ORCPT=rfc822;w@example.test", "250")
	d.cmd("RSET", "250")
	d.cmd("MAIL FROM:<a@example.org> SMTPUTF8", "250")
	d.try("RCPT TO:<u@example.test> ORCPT=utf-8;\u00e9@example.test", "250")
}
