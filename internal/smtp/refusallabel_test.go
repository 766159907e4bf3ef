package smtp

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// SMTP-3, OPS (front33 item 4): the reason logged for a refused
// recipient of an accepted domain says what the reply tells the client
// the session lacks — auth_required for 530 5.7.0 Authentication
// required, tls_required for 530 5.7.0 Must issue a STARTTLS command
// first, not_permitted_to_submit for 530 5.7.1 alone —, so that a count
// by reason does not call a client that has not authenticated yet one
// refused the right to submit.
func TestSMTP3RefusalReasonLabelSaysWhatIsLacking(t *testing.T) {
	creds := credsFile(t)
	cert, key, _ := testCert(t)
	for _, tc := range []struct{ name, own, plain, want, reason string }{
		{"auth required at the address", "",
			"    auth: {mechanisms: [PLAIN], credentials_file: %[1]q, allow_insecure: true, required: true}\n    permissions: {authenticated: [submit, relay]}\n",
			"530 5.7.0 Authentication required", "auth_required"},
		{"tls required at the address", fmt.Sprintf("    tls: {cert_file: %q, key_file: %q}\n", cert, key),
			fmt.Sprintf("    tls: {cert_file: %q, key_file: %q, required: true}\n    permissions: {anonymous: [submit]}\n", cert, key),
			"530 5.7.0 Must issue a STARTTLS command first", "tls_required"},
		{"no connector at the address", "", "", "530 5.7.1 Not permitted to submit", "not_permitted_to_submit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := freeAddr(t)
			plain := ""
			if tc.plain != "" {
				extra := tc.plain
				if strings.Contains(extra, "%[1]q") {
					extra = fmt.Sprintf(extra, creds)
				}
				plain = plainAt(addr, extra)
			}
			conf := func(ranges string) string {
				return fmt.Sprintf(`
  - name: relayers
    bindings: [%q]
    remote_ranges: [%s]
%s    permissions: {anonymous: [submit, relay]}
`, addr, ranges, tc.own) + plain
			}
			logs := &syncBuffer{}
			s := startWith(t, ServerConfig{Log: slog.New(slog.NewTextHandler(logs, nil)), Connectors: connectors(t, conf(`"127.0.0.0/16"`))})
			d := dial(t, s, "127.0.0.147")
			d.expect("220")
			d.cmd("EHLO c", "250")
			d.cmd("MAIL FROM:<x@outside.test>", "250")
			if err := s.Reload(connectors(t, conf(`"127.0.0.149/32"`)), testTable()); err != nil {
				t.Fatal(err)
			}
			d.cmd("RCPT TO:<alice@example.test>", tc.want)
			l := logs.lines("recipient refused")
			if len(l) != 1 || !strings.Contains(l[0], "reason="+tc.reason+" ") {
				t.Errorf("refusal logged as %q, want one line with reason=%s", l, tc.reason)
			}
		})
	}
}

// TestSMTP3MailRefusedForWantOfARightIsLogged: a MAIL refused because the
// session lacks what its connector requires — TLS, an authentication,
// the right to submit — is in the refusal log with the reason its reply
// gives (the same reasons as a recipient's), so that an operator sees
// why a client cannot submit.
func TestSMTP3MailRefusedForWantOfARightIsLogged(t *testing.T) {
	creds := credsFile(t)
	cert, key, _ := testCert(t)
	for _, tc := range []struct{ name, conn, want, reason string }{
		{"auth required", fmt.Sprintf("    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true, required: true}\n    permissions: {authenticated: [submit, relay]}\n", creds),
			"530 5.7.0 Authentication required", "auth_required"},
		{"tls required", fmt.Sprintf("    tls: {cert_file: %q, key_file: %q, required: true}\n    permissions: {anonymous: [submit]}\n", cert, key),
			"530 5.7.0 Must issue a STARTTLS command first", "tls_required"},
		{"no right to submit", fmt.Sprintf("    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}\n    permissions: {authenticated: [submit]}\n", creds),
			"530 5.7.1 Not permitted to submit", "not_permitted_to_submit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := freeAddr(t)
			logs := &syncBuffer{}
			s := startWith(t, ServerConfig{Log: slog.New(slog.NewTextHandler(logs, nil)), Connectors: connectors(t, fmt.Sprintf(`
  - name: sub
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
%s`, addr, tc.conn))})
			d := dial(t, s, "127.0.0.147")
			d.expect("220")
			d.cmd("EHLO c", "250")
			d.cmd("MAIL FROM:<x@outside.test>", tc.want)
			l := logs.lines("sender refused")
			if len(l) != 1 || !strings.Contains(l[0], "reason="+tc.reason+" ") {
				t.Errorf("refusal logged as %q, want one line with reason=%s", l, tc.reason)
			}
		})
	}
}

// TestSMTP3LoginEndToldIsLoggedAsSuch: where the refusal of a recipient
// or a MAIL tells the client that its login ended (a 530 5.7.0 in place
// of the relay's 550 or MAIL's 530 5.7.1), the refusal log's line says
// that too — not "relay denied", which the client was not told.
func TestSMTP3LoginEndToldIsLoggedAsSuch(t *testing.T) {
	creds := credsFile(t)
	for _, mail := range []bool{false, true} {
		name := "RCPT"
		if mail {
			name = "MAIL"
		}
		t.Run(name, func(t *testing.T) {
			addr := freeAddr(t)
			logs := &syncBuffer{}
			conn := fmt.Sprintf("    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}\n    permissions: {authenticated: [submit, relay]}\n", creds)
			s := startWith(t, ServerConfig{Log: slog.New(slog.NewTextHandler(logs, nil)), Connectors: connectors(t, plainAt(addr, conn))})
			d := dial(t, s, "127.0.0.147")
			d.expect("220")
			d.cmd("EHLO c", "250")
			d.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "235")
			if !mail {
				d.cmd("MAIL FROM:<alice@example.test>", "250")
			}
			h, _ := bcrypt.GenerateFromPassword([]byte("hubpass"), bcrypt.MinCost)
			without := filepath.Join(t.TempDir(), "creds")
			if err := os.WriteFile(without, []byte("hub2:"+string(h)+":server\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := s.Reload(connectors(t, plainAt(addr, strings.Replace(conn, creds, without, 1))), testTable()); err != nil {
				t.Fatal(err)
			}
			if mail {
				d.cmd("MAIL FROM:<alice@example.test>", "530 5.7.0")
			} else {
				d.cmd("RCPT TO:<x@outside.test>", "530 5.7.0")
			}
			if l := logs.lines("relay denied"); len(l) != 0 {
				t.Errorf("logged as a relay denied: %q", l)
			}
			all := strings.Join(append(logs.lines("recipient refused"), logs.lines("sender refused")...), "\n")
			if !strings.Contains(all, "reason=login_ended ") {
				t.Errorf("refusal lines %q, want reason=login_ended", all)
			}
		})
	}
}
