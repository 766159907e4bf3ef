package smtp

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// SMTP-8, SMTP-3 (README: "a login a reload ends … is told to the client
// only in the refusal of a command the rights left to the session would
// refuse anyway"): a session whose authentication a reload ended (the
// connector now at its address, sub, offers no AUTH) sends a command the
// configuration in force accepts — a RCPT of an accepted domain, which
// sub's anonymous submit allows, as it does on a new connection from the
// address —: 250, not a permanent 530 that a sending MTA would bounce
// the recipient for (RFC 5321 §4.2.1) while the same RCPT again, or on a
// new connection, is taken. The loss is logged. A command the rights
// left refuse anyway (a RCPT of an outside domain: no relay) is the one
// told, once, in words; the next such refusal is the plain one.
func TestSMTP8LoginEndNotToldToCommandThatIsAccepted(t *testing.T) {
	addr := laneAddr(t)
	creds := credsFile(t)
	sub := fmt.Sprintf(`
  - name: sub
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    permissions: {anonymous: [submit]}
`, addr)
	var logs lockedBuf
	q := &fakeQueue{}
	s := startWith(t, ServerConfig{Queue: q, Log: slog.New(slog.NewTextHandler(&logs, nil)), Connectors: connectors(t, narrowConf(addr, `"127.0.0.0/16"`, creds, sub))})
	d := dial(t, s, "127.0.0.131")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "235") // \0alice\0secret
	d.cmd("MAIL FROM:<alice@example.test>", "250")
	if err := s.Reload(connectors(t, narrowConf(addr, `"127.0.0.216/32"`, creds, sub)), testTable()); err != nil {
		t.Fatal(err)
	}
	fresh := dial(t, s, "127.0.0.131")
	fresh.expect("220")
	fresh.cmd("EHLO c", "250")
	fresh.cmd("MAIL FROM:<alice@example.test>", "250")
	fresh.cmd("RCPT TO:<bob@example.test>", "250") // sub's anonymous submit
	d.cmd("RCPT TO:<bob@example.test>", "250")
	logged := false
	for _, l := range strings.Split(logs.String(), "\n") {
		logged = logged || strings.Contains(l, `msg="authentication ended: the session continues unauthenticated"`) &&
			strings.Contains(l, `reason="the receive connector that takes the session's address now (sub) offers no AUTH"`)
	}
	if !logged {
		t.Errorf("the login's end is not logged with its reason in words:\n%s", logs.String())
	}
	d.cmd("RCPT TO:<x@outside.test>", "530 5.7.0 Authentication required: the receive connector that takes this connection's address now (sub) offers no AUTH; the session continues unauthenticated")
	d.cmd("RCPT TO:<y@outside.test>", "550 5.7.1 Relay access denied")
	d.cmd("DATA", "354")
	d.cmd("Subject: t\r\n\r\nbody\r\n.", "250")
	d.cmd("MAIL FROM:<alice@example.test>", "250")
}
