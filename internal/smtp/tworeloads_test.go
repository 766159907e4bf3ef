package smtp

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"umbra/internal/config"
)

// SMTP-8 (front33 item 2): two reloads with no command between them —
// the session's connector renamed with its settings as they were, then
// the account removed from the renamed connector — end the session's
// authentication with a true reply at its first command the rights
// left refuse (its MAIL, which anonymous submit takes, is not refused to
// tell it): a RCPT that needs the login's relay is refused 530 5.7.0
// saying in words that the connector now at the address does not have
// the account, and the session keeps none of its login's rights (relay
// refused after). The
// same where the reloads rename the account (its old name gone) and
// then remove the new one.
func TestSMTP8TwoReloadsWithoutCommandLoginLostTold(t *testing.T) {
	creds := credsFile(t)
	conf := func(addr, name, creds string) []config.ReceiveConnector {
		return connectors(t, fmt.Sprintf(`
  - name: %s
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit, relay]}
`, name, addr, creds))
	}
	hubOnly := func(t *testing.T) string {
		h, _ := bcrypt.GenerateFromPassword([]byte("hubpass"), bcrypt.MinCost)
		p := filepath.Join(t.TempDir(), "creds")
		if err := os.WriteFile(p, []byte("hub2:"+string(h)+":server\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	renamedAccount := func(t *testing.T) string {
		b, err := os.ReadFile(creds)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "creds")
		if err := os.WriteFile(p, []byte(strings.Replace(string(b), "alice:", "alicia:", 1)), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name        string
		first, then func(t *testing.T, addr string) []config.ReceiveConnector
		inTxn       bool // the next command a RCPT of a transaction opened before the reloads
		want        string
	}{
		{name: "connector renamed, account removed, MAIL",
			first: func(t *testing.T, addr string) []config.ReceiveConnector { return conf(addr, "default2", creds) },
			then:  func(t *testing.T, addr string) []config.ReceiveConnector { return conf(addr, "default2", hubOnly(t)) },
			want:  "does not have the account"},
		{name: "connector renamed, account removed, RCPT", inTxn: true,
			first: func(t *testing.T, addr string) []config.ReceiveConnector { return conf(addr, "default2", creds) },
			then:  func(t *testing.T, addr string) []config.ReceiveConnector { return conf(addr, "default2", hubOnly(t)) },
			want:  "does not have the account"},
		{name: "account renamed, then removed, MAIL",
			first: func(t *testing.T, addr string) []config.ReceiveConnector {
				return conf(addr, "default", renamedAccount(t))
			},
			then: func(t *testing.T, addr string) []config.ReceiveConnector { return conf(addr, "default", hubOnly(t)) },
			want: "removed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := freeAddr(t)
			s := startServer(t, &fakeQueue{}, conf(addr, "default", creds)...)
			d := dial(t, s, "127.0.0.144")
			d.expect("220")
			d.cmd("EHLO c", "250")
			d.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "235") // \0alice\0secret
			if tc.inTxn {
				d.cmd("MAIL FROM:<alice@example.test>", "250")
			}
			if err := s.Reload(tc.first(t, addr), testTable()); err != nil {
				t.Fatal(err)
			}
			if err := s.Reload(tc.then(t, addr), testTable()); err != nil {
				t.Fatal(err)
			}
			if !tc.inTxn {
				d.cmd("MAIL FROM:<alice@example.test>", "250") // anonymous submit: not told here
			}
			got := d.cmd("RCPT TO:<x@other.test>", "") // no relay left by the login: told here
			if !strings.HasPrefix(got, "530 5.7.0 Authentication required: ") || !strings.Contains(got, tc.want) {
				t.Errorf("first command the rights left refuse after the login was lost: %q, want 530 5.7.0 saying %q", got, tc.want)
			}
			d.cmd("RSET", "250")
			d.cmd("MAIL FROM:<alice@example.test>", "250") // anonymous submit
			d.cmd("RCPT TO:<x@other.test>", "550 5.7.1")   // told once
			d.cmd("RSET", "250")
			d.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "535") // judged by the credentials in force
		})
	}
}

// SMTP-8 (front33 item 2, sibling): after the same two reloads the next
// command an AUTH — no MAIL or RCPT between — is judged by the
// configuration in force too: the login is lost there, so the AUTH is
// not "503 Already authenticated" for a login that no longer holds but
// judged by the credentials in force (535: the account is gone), and a
// second AUTH after one that holds is 503 as ever.
func TestSMTP8TwoReloadsThenAuthJudgedInForce(t *testing.T) {
	creds := credsFile(t)
	addr := freeAddr(t)
	conf := func(name, creds string) []config.ReceiveConnector {
		return connectors(t, fmt.Sprintf(`
  - name: %s
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit, relay]}
`, name, addr, creds))
	}
	h, _ := bcrypt.GenerateFromPassword([]byte("hubpass"), bcrypt.MinCost)
	hubOnly := filepath.Join(t.TempDir(), "creds")
	if err := os.WriteFile(hubOnly, []byte("hub2:"+string(h)+":server\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, &fakeQueue{}, conf("default", creds)...)
	d := dial(t, s, "127.0.0.145")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "235") // \0alice\0secret
	for _, c := range [][]config.ReceiveConnector{conf("default2", creds), conf("default2", hubOnly)} {
		if err := s.Reload(c, testTable()); err != nil {
			t.Fatal(err)
		}
	}
	d.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "535")
	d.cmd("AUTH PLAIN AGh1YjIAaHVicGFzcw==", "235") // \0hub2\0hubpass
	d.cmd("AUTH PLAIN AGh1YjIAaHVicGFzcw==", "503")
}

// SMTP-8, SMTP-3 (front33 items 1 and 2): after the same two reloads the
// next command DATA, of a transaction whose outside recipient the login
// relayed: refused before the body, 451 4.7.1 saying that the login
// ended and why — the connector now at the address does not have the
// account —, nothing queued; the 451 told the login's end, so the next
// MAIL is taken and a RCPT that needs relay refused plainly.
func TestSMTP8TwoReloadsThenDataRefusedWithLoginReason(t *testing.T) {
	creds := credsFile(t)
	addr := freeAddr(t)
	conf := func(name, creds string) []config.ReceiveConnector {
		return connectors(t, fmt.Sprintf(`
  - name: %s
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit, relay]}
`, name, addr, creds))
	}
	h, _ := bcrypt.GenerateFromPassword([]byte("hubpass"), bcrypt.MinCost)
	hubOnly := filepath.Join(t.TempDir(), "creds")
	if err := os.WriteFile(hubOnly, []byte("hub2:"+string(h)+":server\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	q := &fakeQueue{}
	s := startServer(t, q, conf("default", creds)...)
	d := dial(t, s, "127.0.0.146")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "235") // \0alice\0secret
	d.cmd("MAIL FROM:<alice@example.test>", "250")
	d.cmd("RCPT TO:<x@other.test>", "250")
	for _, c := range [][]config.ReceiveConnector{conf("default2", creds), conf("default2", hubOnly)} {
		if err := s.Reload(c, testTable()); err != nil {
			t.Fatal(err)
		}
	}
	got := d.cmd("DATA", "451 4.7.1 Recipient <x@other.test>")
	if !strings.Contains(got, "authentication it was accepted under ended") || !strings.Contains(got, "does not have the account") {
		t.Errorf("DATA after the login was lost: %q, want the login's end and its reason", got)
	}
	d.cmd("MAIL FROM:<alice@example.test>", "250") // the 451 told the login's end: not again
	d.cmd("RCPT TO:<x@other.test>", "550 5.7.1")
	if n := q.count(); n != 0 {
		t.Errorf("%d messages queued", n)
	}
}
