package smtp

import (
	"fmt"
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

// SMTP-8 (RFC 4954 §4; rrverbs40): a session whose login a reload ended
// is not authenticated: the EHLO it sends next offers AUTH again, and
// the AUTH it offers is taken; logged in anew, the next EHLO offers none.
func TestSMTP8EHLOAfterRevokedLoginOffersAuth(t *testing.T) {
	addr, creds := freeAddr(t), credsFile(t)
	conf := fmt.Sprintf(`
  - name: sub
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit, relay]}
`, addr, creds)
	s := startShadowServer(t, &fakeQueue{}, &fakeShadow{notes: map[string][]string{}}, true, connectors(t, conf))
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd(authAlice, "235")
	if ehlo := d.cmd("EHLO c", "250"); offersKeyword(ehlo, "AUTH") {
		t.Fatalf("AUTH offered while authenticated:\n%s", ehlo)
	}
	setPassword(t, creds, "alice", "newsecret")
	if err := s.Reload(connectors(t, conf), testTable()); err != nil {
		t.Fatal(err)
	}
	if ehlo := d.cmd("EHLO c", "250"); !offersKeyword(ehlo, "AUTH") {
		t.Fatalf("AUTH not offered after a reload ended the login:\n%s", ehlo)
	}
	d.cmd(plainAuth("alice", "newsecret"), "235")
	if ehlo := d.cmd("EHLO c", "250"); offersKeyword(ehlo, "AUTH") {
		t.Fatalf("AUTH offered after the login anew:\n%s", ehlo)
	}
}
