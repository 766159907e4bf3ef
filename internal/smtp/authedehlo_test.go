package smtp

import (
	"strings"
	"testing"
)

// SMTP-8 (RFC 4954 §4; verbs40, seen): after a successful AUTH a further
// AUTH is refused 503 5.5.1, yet the EHLO after it still offered AUTH, a
// mechanism the client may not use on this connection (go-smtp lists it
// whenever authentication is allowed). The EHLO of an authenticated
// session offers no AUTH; a session not authenticated, or whose
// authentication a reload revoked (TestSMTP8AuthAgainAfterRevocation),
// is offered it as before.
func TestSMTP8EHLOAfterAuthOffersNoAuth(t *testing.T) {
	s := startShadowServer(t, &markQueue{mark: 1}, newPartialShadow(), true, verbs40Connector(t))
	d := dial(t, s, "127.0.0.128")
	d.expect("220")
	if ehlo := d.cmd("EHLO client.test", "250"); !offersKeyword(ehlo, "AUTH") {
		t.Fatalf("AUTH not offered before authentication:\n%s", ehlo)
	}
	d.cmd(authAlice, "235")
	ehlo := d.cmd("EHLO client.test", "250")
	if offersKeyword(ehlo, "AUTH") {
		t.Fatalf("AUTH offered after a successful AUTH:\n%s", ehlo)
	}
	if !strings.HasPrefix(ehlo[strings.LastIndex(ehlo, "\n")+1:], "250 ") {
		t.Fatalf("EHLO reply does not end with a final line:\n%s", ehlo)
	}
	d.cmd(authAlice, "503 5.5.1")
	d.cmd("MAIL FROM:<alice@x.test>", "250") // still authenticated
	d.cmd("QUIT", "221")
}
