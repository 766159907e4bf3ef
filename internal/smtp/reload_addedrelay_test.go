package smtp

import (
	"fmt"
	"testing"
)

// SMTP-3, EDGE: a recipient a check adds gets what a RCPT
// would get (addedrcpt.go) — and a RCPT is judged by the rights in force
// (refreshRights: "a reload that takes a right away must bite at once",
// reloadtxn.go). A reload that took the relay right away while the
// message's body arrived refuses the client's own next RCPT to an
// outside domain; a milter's added outside recipient must not be relayed
// by the right the reload took away either.
func TestSMTP3AddedRecipientAfterReloadTookRelay(t *testing.T) {
	addr := freeAddr(t)
	conf := func(perms string) string {
		return fmt.Sprintf(`
  - name: internet
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    permissions: {anonymous: [%s]}
`, addr, perms)
	}
	s, q := addingServer(t, conf("submit, relay"), []string{"victim@outside.test"})
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO client.test", "250")
	d.cmd("MAIL FROM:<a@sender.test>", "250")
	d.cmd("RCPT TO:<alice@example.test>", "250")
	d.cmd("DATA", "354")
	d.send("Subject: x\r\n\r\n")
	if err := s.Reload(connectors(t, conf("submit")), testTable()); err != nil {
		t.Fatal(err)
	}
	d.cmd("hello\r\n.", "250")
	if got := fmt.Sprint(queuedRcpts(t, q)); got != "[alice@example.test]" {
		t.Errorf("queued for %s; want alice only: the relay right was taken away before the check added victim@outside.test", got)
	}
	// What the client itself gets for the same recipient now.
	d.cmd("MAIL FROM:<a@sender.test>", "250")
	d.cmd("RCPT TO:<victim@outside.test>", "550 5.7.1")
}
