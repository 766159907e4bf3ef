package smtp

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/config"
)

// SMTP-8: the 451 after the body names the directory's revocation
// only where the directory revoked the account during that body. A
// session whose account the directory revoked earlier (530 at a MAIL)
// and that relays on afterwards by its connector's anonymous right
// keeps revokedWhy; a reload that takes that anonymous right while the
// next body comes is then told to the client as "the account directory
// revoked the account this session authenticated as" — no account was
// in use, and it was a reload that took the right.
func TestSMTP8StaleDirectoryRevocationNotNamedAfterReload(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC))
	src := &disablingSource{}
	addr := freeAddr(t)
	conf := func(anon string) []config.ReceiveConnector {
		return connectors(t, fmt.Sprintf(`
  - name: submission
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    auth: {mechanisms: [PLAIN], ldap: true, allow_insecure: true}
    permissions: {anonymous: [%s], authenticated: [submit, relay]}
ldap: {url: "ldap://127.0.0.200", base_dn: "dc=x", account_filter: "(uid=%%s)"}
`, addr, anon))
	}
	var logs lockedBuf
	s := startWith(t, ServerConfig{Clock: clk, Accounts: src, Log: slog.New(slog.NewTextHandler(&logs, nil)), Connectors: conf("submit, relay")})
	d := dial(t, s, "127.0.0.215")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd(plainAuth("carol", "pw"), "235")
	src.disabled.Store(true)
	clk.Advance(2 * time.Minute)
	d.cmd("MAIL FROM:<anon@example.test>", "250") // the directory revoked carol: anonymous now, not told where the rights left take it
	d.cmd("RCPT TO:<x@outside.invalid>", "250")   // by the anonymous relay right
	d.cmd("DATA", "354")
	if err := s.Reload(conf("submit"), testTable()); err != nil { // anonymous relay taken
		t.Fatal(err)
	}
	got := d.cmd("Subject: t\r\n\r\nbody\r\n.", "451 4.7.1")
	if strings.Contains(got, "directory") || !strings.Contains(got, "reload") {
		t.Errorf("a reload took the anonymous relay right during the body, yet the reply blames the account directory: %q", got)
	}
}
