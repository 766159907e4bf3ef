package smtp

import (
	"strings"
	"testing"
)

// SMTP-2, RFC 3207 §4.2 (rrfront42): STARTTLS after AUTH is refused to a
// login that stands — go-smtp cannot forget it, and a session keeping a
// login across STARTTLS would keep what RFC 3207 says must be discarded.
// Only a login a reload revoked (dropRevokedAuth) lets STARTTLS go on;
// one the connector in force still takes, in clear where allow_insecure
// lets it, does not.
func TestSMTP2StartTLSAfterStandingAuthRefused(t *testing.T) {
	cert, key, _ := testCert(t)
	creds := credsFile(t)
	addr := freeAddrIn(t, "127.0.0.142", 7500, 7599)
	s := startServer(t, &fakeQueue{}, connectors(t, tlsRequiredConf(addr, cert, key, creds, "", ", allow_insecure: true"))...)
	d := dial(t, s, "127.0.0.142")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "235")
	d.cmd("STARTTLS", "503 5.5.1")
	// The login stands: the session still sends as it.
	d.cmd("MAIL FROM:<alice@example.test>", "250")
	d.cmd("RCPT TO:<x@remote.test>", "250")
	// A reload that changes nothing the login stands on keeps it, and
	// STARTTLS refused.
	if err := s.Reload(connectors(t, tlsRequiredConf(addr, cert, key, creds, "", ", allow_insecure: true")), testTable()); err != nil {
		t.Fatal(err)
	}
	d.cmd("RSET", "250")
	d.cmd("STARTTLS", "503 5.5.1")
	d.cmd("MAIL FROM:<alice@example.test>", "250")
}

// SMTP-2, RFC 3207 §4.2 (rrfront42): after the STARTTLS that ended a
// login a reload revoked (a clear login on a connector now tls.required)
// nothing of that login is kept without a new AUTH: the transaction
// opened under it is gone (DATA wants MAIL), the session has only the
// anonymous rights (here none), the greeting must come again, and the
// EHLO over TLS offers AUTH, so a client that authenticates only where
// AUTH is offered can log in again.
func TestSMTP2StartTLSAfterRevokedLoginKeepsNothing(t *testing.T) {
	cert, key, pool := testCert(t)
	creds := credsFile(t)
	addr := freeAddrIn(t, "127.0.0.142", 7600, 7699)
	s := startServer(t, &fakeQueue{}, connectors(t, tlsRequiredConf(addr, cert, key, creds, "", ", allow_insecure: true"))...)
	d := dial(t, s, "127.0.0.142")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "235")
	d.cmd("MAIL FROM:<alice@example.test>", "250")
	d.cmd("RCPT TO:<x@remote.test>", "250")
	if err := s.Reload(connectors(t, tlsRequiredConf(addr, cert, key, creds, ", required: true", "")), testTable()); err != nil {
		t.Fatal(err)
	}
	d.startTLS(pool)
	// The greeting is forgotten.
	d.cmd("MAIL FROM:<alice@example.test>", "503")
	ehlo := d.cmd("EHLO c", "250")
	if !strings.Contains(ehlo, "AUTH PLAIN") {
		t.Errorf("EHLO over TLS after the revoked login offers no AUTH:\n%s", ehlo)
	}
	// The transaction opened under the login is forgotten.
	d.cmd("DATA", "503")
	d.send("BDAT 3 LAST\r\nabc")
	if r := d.reply(); !strings.HasPrefix(r, "503") {
		t.Errorf("BDAT after STARTTLS with no new transaction: %q", r)
	}
	// No right of the login without a new AUTH.
	// (the connector grants anonymous sessions nothing: MAIL is refused.)
	d.cmd("MAIL FROM:<alice@example.test>", "530 5.7.1")
	if r := d.cmd("RCPT TO:<x@remote.test>", ""); strings.HasPrefix(r, "2") {
		t.Fatalf("RCPT after STARTTLS without a new AUTH: %q", r)
	}
	d.cmd("RSET", "250")
	// A wrong password under TLS gives nothing either.
	d.cmd("AUTH PLAIN AGFsaWNlAHdyb25n", "535")
	d.cmd("MAIL FROM:<alice@example.test>", "530 5.7.1")
	d.cmd("RSET", "250")
	d.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "235")
	d.cmd("MAIL FROM:<alice@example.test>", "250")
	d.cmd("RCPT TO:<x@remote.test>", "250")
}
