package smtp

import (
	"fmt"
	"testing"
)

// anonymousConf is a receive connector "default" on a free loopback
// address whose anonymous sessions have the rights given (", "-joined).
func anonymousConf(t *testing.T) func(rights string) string {
	addr := freeAddr(t)
	return func(rights string) string {
		return fmt.Sprintf(`
  - name: default
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8", "::1/128"] # relay only from loopback (SMTP-3)
    permissions: {anonymous: [%s]}
`, addr, rights)
	}
}

// rt21b L4, SMTP-2: rights a reload takes from a connector (its relay
// right, its submit right) apply to the sessions already open from their
// next transaction (MAIL) on; the transaction in progress keeps the
// recipients it has, but relays none by a right taken (rt32b F1: its end
// of data is 451 4.7.1, nothing queued). Rights a reload gives apply the
// same way. The
// connector's other settings stay those the session started with
// (TestReloadInPlace).
func TestReloadRightsApplyFromNextMail(t *testing.T) {
	conf := anonymousConf(t)
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, conf("submit, relay"))...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<x@example.org>", "250")
	if err := s.Reload(connectors(t, conf("submit")), testTable()); err != nil {
		t.Fatal(err)
	}
	// The open transaction relays nothing by the right taken: refused
	// at DATA, before its body (front33).
	d.cmd("DATA", "451 4.7.1 Recipient <x@example.org>")
	// The next one has the connector's rights as they are now.
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<y@example.org>", "550 5.7.1 Relay access denied")
	d.cmd("RCPT TO:<bob@example.test>", "250")
	d.cmd("RSET", "250")
	// Rights given by a reload reach the open session too.
	if err := s.Reload(connectors(t, conf("submit, relay")), testTable()); err != nil {
		t.Fatal(err)
	}
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<z@example.org>", "250")
	d.cmd("RSET", "250")
	// A connector left with no anonymous right takes no MAIL.
	if err := s.Reload(connectors(t, conf("")), testTable()); err != nil {
		t.Fatal(err)
	}
	d.cmd("MAIL FROM:<a@example.org>", "530 5.7.1")
	if q.count() != 0 {
		t.Fatalf("%d messages queued, want none", q.count())
	}
}

// rt22b L2, SMTP-3: an operator closing an open relay expects it closed
// at once: in the transaction open at the reload, a new RCPT is judged
// by the rights now in force (550 5.7.1 Relay access denied), and the
// recipient it was given before is not relayed either (rt32b F1): the
// end of data is 451 4.7.1 naming it, nothing queued, and the client's
// next transaction gets, recipient by recipient, what a new session
// gets — the outside one refused, the local one taken. A submit right
// taken away refuses the next MAIL with 530 5.7.1 Not permitted to
// submit mail on this connector.
func TestReloadRelayRightAppliesAtNextRcpt(t *testing.T) {
	conf := anonymousConf(t)
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, conf("submit, relay"))...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<x1@example.org>", "250")
	if err := s.Reload(connectors(t, conf("submit")), testTable()); err != nil {
		t.Fatal(err)
	}
	d.cmd("RCPT TO:<x2@example.org>", "550 5.7.1 Relay access denied")
	d.cmd("RCPT TO:<bob@example.test>", "250")
	d.cmd("DATA", "451 4.7.1 Recipient <x1@example.org>") // before the body (front33)
	if q.count() != 0 {
		t.Fatalf("%d messages queued: x1@example.org relayed by a right the reload took", q.count())
	}
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<x1@example.org>", "550 5.7.1 Relay access denied")
	d.cmd("RCPT TO:<bob@example.test>", "250")
	d.cmd("DATA", "354")
	d.cmd("Subject: x\r\n\r\nhi\r\n.", "250 2.0.0")
	q.mu.Lock()
	var got []string
	for _, r := range q.msgs[0].Rcpts {
		got = append(got, r.Addr)
	}
	q.mu.Unlock()
	if fmt.Sprint(got) != "[bob@example.test]" {
		t.Fatalf("recipients %v, want bob@example.test alone", got)
	}
	if err := s.Reload(connectors(t, conf("")), testTable()); err != nil {
		t.Fatal(err)
	}
	d.cmd("MAIL FROM:<a@example.org>", "530 5.7.1 Not permitted to submit mail on this connector")
}
