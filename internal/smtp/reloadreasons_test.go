package smtp

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"umbra/internal/clock"
	"umbra/internal/config"
)

// (SMTP-8): an account the directory disabled while the
// body came — no reload at all — refuses the transaction it relayed by
// (451 4.7.1, rightlost.go), but its reply must not tell the client that
// a reload of the receive connectors took the right.
func TestSMTP8DirectoryRevocationDuringBodyReplyNamesNoReload(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC))
	src := &disablingSource{}
	var logs lockedBuf
	s := startWith(t, ServerConfig{Clock: clk, Accounts: src, Log: slog.New(slog.NewTextHandler(&logs, nil)), Connectors: connectors(t, `
  - name: submission
    bindings: ["127.0.0.1:0"]
    auth: {mechanisms: [PLAIN], ldap: true, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit, relay]}
ldap: {url: "ldap://127.0.0.200", base_dn: "dc=x", account_filter: "(uid=%s)"}
`)})
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd(plainAuth("carol", "pw"), "235")
	d.cmd("MAIL FROM:<carol@example.test>", "250")
	d.cmd("RCPT TO:<x@outside.invalid>", "250")
	d.cmd("DATA", "354")
	src.disabled.Store(true)
	clk.Advance(2 * time.Minute)
	got := d.cmd("Subject: t\r\n\r\nbody\r\n.", "451 4.7.1")
	if strings.Contains(got, "reload") {
		t.Errorf("no reload took place (the directory disabled the account), yet the reply says one did: %q", got)
	}
}

// (SMTP-8): a connector renamed with its settings as
// they were keeps the authentication it would give (one rule: it stands
// there, and "revocation judges it there from then on", authreload.go).
// A later reload that removes the account from that renamed connector's
// credentials is then a revocation like any other: the next MAIL is
// refused 530 5.7.0 and the WARN "authentication revoked" says a reload
// removed the account — not the silent INFO "authentication ended" of
// an address moved to another connector.
func TestSMTP8RenamedConnectorThenAccountRemovedIsRevocation(t *testing.T) {
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
	logs := &syncBuffer{}
	s := startWith(t, ServerConfig{Log: slog.New(slog.NewTextHandler(logs, nil)), Connectors: conf("default", creds)})
	d := dial(t, s, "127.0.0.148")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "235") // \0alice\0secret
	if err := s.Reload(conf("default2", creds), testTable()); err != nil {
		t.Fatal(err)
	}
	d.cmd("MAIL FROM:<alice@example.test>", "250") // stands at the renamed connector
	d.cmd("RSET", "250")
	h, _ := bcrypt.GenerateFromPassword([]byte("hubpass"), bcrypt.MinCost)
	without := filepath.Join(t.TempDir(), "creds")
	if err := os.WriteFile(without, []byte("hub2:"+string(h)+":server\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(conf("default2", without), testTable()); err != nil { // same connector, alice removed
		t.Fatal(err)
	}
	d.cmd("MAIL FROM:<alice@example.test>", "250") // the rights left take it
	got := d.cmd("RCPT TO:<x@remote.example>", "")
	if !strings.HasPrefix(got, "530 5.7.0") {
		t.Errorf("RCPT after a reload removed the account from the connector its authentication stands at: %q, want 530 5.7.0 (revoked)", got)
	}
	if len(logs.lines("authentication revoked")) == 0 {
		t.Errorf("no WARN 'authentication revoked' for an account a reload removed; logged instead: %q", logs.lines("authentication ended"))
	}
}
