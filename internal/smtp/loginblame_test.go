package smtp

import (
	"fmt"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// SMTP-8, SMTP-3 (frontrt35 reread): the 451 at DATA names the login's end only
// where the login's end is what took the right. Here the login ended
// while anonymous clients could relay too (nothing lost by it: the next
// RCPT relays, 250), then a second reload took relay from every client,
// authenticated or not. The recipients are lost to that reload — the
// login standing would have kept neither — yet the reply says "the
// authentication it was accepted under ended (a reload removed the
// account)", for y too, which was accepted after the login ended.
func TestSMTP8LoginEndNotBlamedForRightTheConnectorsTook(t *testing.T) {
	a, _ := bcrypt.GenerateFromPassword([]byte("secret"), bcrypt.MinCost)
	addr := "127.0.0.152:7512"
	conf := func(creds, perms string) string {
		return fmt.Sprintf(`
  - name: transport
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: %s
`, addr, creds, perms)
	}
	withAlice := revokeCreds(t, "alice:"+string(a)+"\n")
	without := revokeCreds(t, "bob:"+string(a)+"\n")
	relayAll := "{anonymous: [submit, relay], authenticated: [submit, relay]}"
	submitOnly := "{anonymous: [submit], authenticated: [submit]}"
	s := startServer(t, &fakeQueue{}, connectors(t, conf(withAlice, relayAll))...)
	d := dial(t, s, "127.0.0.152")
	d.expect("220")
	d.cmd("EHLO c.test", "250")
	d.cmd(authAlice, "235")
	d.cmd("MAIL FROM:<alice@example.test>", "250")
	d.cmd("RCPT TO:<x@other.test>", "250")
	if err := s.Reload(connectors(t, conf(without, relayAll)), testTable()); err != nil {
		t.Fatal(err)
	}
	d.cmd("RCPT TO:<y@other.test>", "250") // the login ended here; anonymous relay takes it
	if err := s.Reload(connectors(t, conf(without, submitOnly)), testTable()); err != nil {
		t.Fatal(err)
	}
	got := d.cmd("DATA", "451 4.7.1")
	if strings.Contains(got, "authentication it was accepted under ended") {
		t.Errorf("451 at DATA blames the login's end for a right a later reload took from every client: %q", got)
	}
	d.cmd("QUIT", "221")
}
