package smtp

import (
	"fmt"
	"strings"
	"testing"

	"umbra/internal/config"
)

// SMTP-8: two sessions authenticated alike in clear
// on "default" (allow_insecure), the same two reloads — "default"
// renamed "default2" with its settings as they were, then allow_insecure
// taken from "default2" — end with different rights, by whether the
// session sent a verb between the reloads: the one that did had authBy
// re-anchored at "default2" (dropAuthOffAddress) and keeps relaying; the
// idle one's authentication ends (authsAt: default2 no longer offers
// AUTH in clear). README: a moved session keeps the authenticated
// rights of the connector at its address where "it would authenticate
// the session's account as the old connector did (AUTH offered to the
// connection, …), or it authenticated the account itself on the
// session since the reload" — neither holds for the first.
func TestSMTP8AnchoredAuthEndsWhereAuthIsNoLongerOffered(t *testing.T) {
	creds := credsFile(t)
	addr := freeAddr(t)
	cert, key, _ := testCert(t)
	conf := func(name string, insecure bool) []config.ReceiveConnector {
		return connectors(t, fmt.Sprintf(`
  - name: %s
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    tls: {cert_file: %q, key_file: %q}
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: %v}
    permissions: {anonymous: [submit], authenticated: [submit, relay]}
`, name, addr, cert, key, creds, insecure))
	}
	s := startWith(t, ServerConfig{Connectors: conf("default", true)})
	busy, idle := dial(t, s, "127.0.0.216"), dial(t, s, "127.0.0.217")
	for _, d := range []*dialog{busy, idle} {
		d.expect("220")
		d.cmd("EHLO c", "250")
		d.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "235")
	}
	if err := s.Reload(conf("default2", true), testTable()); err != nil {
		t.Fatal(err)
	}
	busy.cmd("MAIL FROM:<alice@example.test>", "250")
	busy.cmd("RSET", "250")
	if err := s.Reload(conf("default2", false), testTable()); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range []*dialog{busy, idle} {
		d.cmd("MAIL FROM:<alice@example.test>", "")
		got = append(got, d.cmd("RCPT TO:<x@outside.invalid>", ""))
	}
	if strings.HasPrefix(got[0], "250") != strings.HasPrefix(got[1], "250") {
		t.Errorf("the same reloads, different rights by the client's timing: busy session %q, idle session %q", got[0], got[1])
	}
}
