package smtp

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/recipients"
)

// panickedAccounts is an account directory whose bind panicked
// (recovered by ldapdir: its error wraps recipients.ErrInternal, as
// ldapdir's errPanicked does).
type panickedAccounts struct{}

func (panickedAccounts) Authenticate(context.Context, string, string) (string, bool, bool, error) {
	return "", false, false, fmt.Errorf("%w (recovered panic)", recipients.ErrInternal)
}

func (panickedAccounts) HasServer() bool { return true }

// SMTP-3, OPS-4 (words49 item 3): an AUTH whose directory lookup
// panicked (umbra's own defect, recovered and logged with its panic in
// ldapdir) is refused 454 4.7.0 like an unavailable directory, but its
// refusal line says what it was — reason internal_error, as a RCPT's
// is (rcptcheck.go) —, never accounts_unavailable, which sent the
// operator to look at a directory that was up. Seen to fail first: the
// line read reason=accounts_unavailable.
func TestSMTP3AuthLookupPanicHasItsOwnReason(t *testing.T) {
	var logs lockedBuf
	creds := credsFile(t)
	conns := connectors(t, fmt.Sprintf(`
  - name: submission
    bindings: ["127.0.0.1:0"]
    auth: {mechanisms: [PLAIN], credentials_file: %q, ldap: true, allow_insecure: true}
    permissions: {authenticated: [submit]}
ldap: {url: "ldap://127.0.0.1", base_dn: "dc=x", account_filter: "(uid=%%s)"}
`, creds))
	clk := clock.NewFake(time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC))
	s := startWith(t, ServerConfig{Clock: clk, Log: slog.New(slog.NewTextHandler(&logs, nil)), Connectors: conns, Accounts: panickedAccounts{}})
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd(plain("dora", "dora-pw"), "454 4.7.0")
	d.cmd("QUIT", "221")
	d.closed()
	s.Shutdown(t.Context())
	out := logs.String()
	if !strings.Contains(out, `msg="authentication refused"`) || !strings.Contains(out, `reason=internal_error code=454 enhanced_code=4.7.0`) ||
		strings.Contains(out, "accounts_unavailable") {
		t.Errorf("want the refusal with reason internal_error, not accounts_unavailable:\n%s", out)
	}
	if strings.Contains(out, "account directory unavailable") {
		// The err beside reason=internal_error must not send the
		// operator to the directory either.
		t.Errorf("the internal error's line says the directory was unavailable:\n%s", out)
	}
	if strings.Contains(out, "dora-pw") {
		t.Errorf("a password in the log:\n%s", out)
	}
}
