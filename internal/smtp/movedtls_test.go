package smtp

import (
	"fmt"
	"strings"
	"testing"
)

// SMTP-2, SMTP-3 (front33 item 3): a session whose address a reload gave
// another connector has, for the TLS state it has, the anonymous rights
// of the connector now at its address — what a new connection from the
// address in that TLS state gets there —, not only those its own
// connector granted too: its own granted submit alone, the connector at
// the address grants relay (after TLS where it requires TLS), so after
// STARTTLS on the same connection it relays as a new connection that
// made STARTTLS does, and before it is answered as one that did not.
// Each command is compared with a new connection's reply.
func TestSMTP2MovedSessionMeetingTLSHasRightsOfConnectorAtAddress(t *testing.T) {
	cert, key, pool := testCert(t)
	for _, w := range []struct{ name, tls string }{
		{"tls required", "required: true"},
		{"tls offered", "required: false"},
	} {
		t.Run(w.name, func(t *testing.T) {
			addr := freeAddr(t)
			conf := func(ranges string) string {
				return fmt.Sprintf(`
  - name: plain
    bindings: [%q]
    remote_ranges: [%s]
    tls: {cert_file: %q, key_file: %q}
    permissions: {anonymous: [submit]}
  - name: wide
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    tls: {cert_file: %q, key_file: %q, %s}
    permissions: {anonymous: [submit, relay]}
`, addr, ranges, cert, key, addr, cert, key, w.tls)
			}
			s := startServer(t, &fakeQueue{}, connectors(t, conf(`"127.0.0.0/16"`))...)
			moved := dial(t, s, "127.0.0.146")
			moved.expect("220")
			moved.cmd("EHLO c", "250")
			moved.cmd("MAIL FROM:<a@example.test>", "250")
			moved.cmd("RCPT TO:<x@remote.test>", "550 5.7.1") // its own connector grants no relay
			moved.cmd("RSET", "250")
			if err := s.Reload(connectors(t, conf(`"127.0.0.149/32"`)), testTable()); err != nil {
				t.Fatal(err)
			}
			fresh := dial(t, s, "127.0.0.146")
			fresh.expect("220")
			fresh.cmd("EHLO c", "250")
			relayed := 0
			for _, c := range []string{"MAIL FROM:<a@example.test>", "RCPT TO:<x@remote.test>", "RSET",
				"STARTTLS", "EHLO c", "MAIL FROM:<a@example.test>", "RCPT TO:<b@example.test>", "RCPT TO:<x@remote.test>", "QUIT"} {
				got, want := moved.cmd(c, ""), fresh.cmd(c, "")
				if got != want {
					t.Errorf("%s:\n moved session:    %q\n a new connection: %q", c, got, want)
				}
				if c == "RCPT TO:<x@remote.test>" && strings.HasPrefix(got, "250") {
					relayed++
				}
				if c == "STARTTLS" && strings.HasPrefix(got, "220") {
					moved.handshake(pool)
				}
				if c == "STARTTLS" && strings.HasPrefix(want, "220") {
					fresh.handshake(pool)
				}
			}
			if relayed == 0 {
				t.Errorf("the moved session relayed nothing after STARTTLS, where the connector at its address grants relay")
			}
		})
	}
}

// SMTP-3 (front33 item 3, sibling): the rights a moved session has of
// the connector at its address are that connector's, not its own: a
// later reload that gives the address back to its own connector — now
// with tls.required, which the session has not met, so that it keeps
// only what its own connector granted through the reloads — gives it
// nothing the connector that took its address meanwhile granted. Its
// own granted submit alone: a RCPT to an outside domain in the
// transaction opened while it was moved is refused.
func TestSMTP3AddressBackToOwnConnectorKeepsNoRightOfConnectorBetween(t *testing.T) {
	cert, key, _ := testCert(t)
	addr := freeAddr(t)
	conf := func(ranges, tls, anon string) string {
		return fmt.Sprintf(`
  - name: plain
    bindings: [%q]
    remote_ranges: [%s]
    tls: {cert_file: %q, key_file: %q%s}
    permissions: {anonymous: [%s]}
  - name: wide
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    permissions: {anonymous: [submit, relay]}
`, addr, ranges, cert, key, tls, anon, addr)
	}
	s := startServer(t, &fakeQueue{}, connectors(t, conf(`"127.0.0.0/16"`, "", "submit"))...)
	d := dial(t, s, "127.0.0.148")
	d.expect("220")
	d.cmd("EHLO c", "250")
	if err := s.Reload(connectors(t, conf(`"127.0.0.149/32"`, "", "submit")), testTable()); err != nil {
		t.Fatal(err)
	}
	d.cmd("MAIL FROM:<a@example.test>", "250")
	d.cmd("RCPT TO:<x@remote.test>", "250") // wide's relay, as a new connection's
	if err := s.Reload(connectors(t, conf(`"127.0.0.0/16"`, ", required: true", "submit, relay")), testTable()); err != nil {
		t.Fatal(err)
	}
	d.cmd("RCPT TO:<y@remote.test>", "550 5.7.1 Relay access denied")
}
