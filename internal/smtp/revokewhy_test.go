package smtp

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// revokeConnector: hub2's server account relays by the servers' rights;
// an authenticated user may only submit.
func revokeConnector(addr, creds string) string {
	return fmt.Sprintf(`
  - name: transport
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit], servers: [submit, relay]}
`, addr, creds)
}

func revokeCreds(t *testing.T, lines string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "creds")
	if err := os.WriteFile(p, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// SMTP-8, OPS-3 (README: "… has the account with another password or
// server flag"; frontrt35 F4): the 530 that tells a session its login
// ended says what the reload did — removed the account, changed its
// password, took its server flag — not "removed or its password changed"
// for all three, and the 451 at DATA for a recipient relayed before the
// login ended names the login's end (with the same cause), not a right
// the receive connectors lost.
func TestSMTP8RevocationReplySaysWhatTheReloadDid(t *testing.T) {
	h, _ := bcrypt.GenerateFromPassword([]byte("hubpass"), bcrypt.MinCost)
	other, _ := bcrypt.GenerateFromPassword([]byte("otherpass"), bcrypt.MinCost)
	a, _ := bcrypt.GenerateFromPassword([]byte("secret"), bcrypt.MinCost)
	cases := []struct {
		name, creds, want string
		port              int
	}{
		{"removed", "alice:" + string(a) + "\n", "was removed", 37503},
		{"password", "hub2:" + string(other) + ":server\n", "password was changed", 37504},
		{"server flag", "hub2:" + string(h) + "\n", "server flag was taken", 37505},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			addr := fmt.Sprintf("127.0.0.150:%d", c.port)
			s := startServer(t, &fakeQueue{}, connectors(t, revokeConnector(addr, revokeCreds(t, "hub2:"+string(h)+":server\n")))...)
			d := dial(t, s, "127.0.0.150")
			d.expect("220")
			d.cmd("EHLO hub2.test", "250")
			d.cmd(authHub2, "235")
			d.cmd("MAIL FROM:<a@hub.test>", "250")
			d.cmd("RCPT TO:<x@other.test>", "250") // relayed by the servers' rights
			if err := s.Reload(connectors(t, revokeConnector(addr, revokeCreds(t, c.creds))), testTable()); err != nil {
				t.Fatal(err)
			}
			got := d.cmd("RCPT TO:<y@other.test>", "530 5.7.0")
			if !strings.Contains(got, c.want) || strings.Contains(got, " or ") {
				t.Errorf("530 after a reload that %s: %q, want it to say %q and nothing it did not do", c.name, got, c.want)
			}
			got = d.cmd("DATA", "451 4.7.1")
			if !strings.Contains(got, "authentication it was accepted under ended") || strings.Contains(got, "receive connectors took") {
				t.Errorf("451 at DATA after a reload that %s: %q, want it to name the login's end", c.name, got)
			}
			d.cmd("QUIT", "221")
		})
	}
}

// SMTP-8 (frontrt35 F4, its sibling): where a reload gave the session's
// address to another connector whose credentials hold the account with
// the same password but without its server flag, the 530 says that —
// not "another password or server flag".
func TestSMTP8LoginEndedAtAddressSaysServerFlagTaken(t *testing.T) {
	h, _ := bcrypt.GenerateFromPassword([]byte("hubpass"), bcrypt.MinCost)
	addr := "127.0.0.150:7506"
	own := revokeCreds(t, "hub2:"+string(h)+":server\n")
	conf := func(ranges string) string {
		return fmt.Sprintf(`
  - name: transport
    bindings: [%q]
    remote_ranges: [%s]
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit], servers: [submit, relay]}
  - name: sub
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit]}
`, addr, ranges, own, addr, revokeCreds(t, "hub2:"+string(h)+"\n"))
	}
	s := startServer(t, &fakeQueue{}, connectors(t, conf(`"127.0.0.150/32"`))...)
	d := dial(t, s, "127.0.0.150")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	if err := s.Reload(connectors(t, conf(`"127.0.0.151/32"`)), testTable()); err != nil {
		t.Fatal(err)
	}
	d.cmd("MAIL FROM:<a@hub.test>", "250")
	d.cmd("RCPT TO:<x@other.test>", "530 5.7.0 Authentication required: the receive connector that takes this connection's address now (sub) has the account without the server flag")
	d.cmd("QUIT", "221")
}
