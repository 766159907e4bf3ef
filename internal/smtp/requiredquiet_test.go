package smtp

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// frontAddr is a free address on 127.0.0.124, ports 9000-9499: the
// lane of the front door's tests of this file and its siblings.
func frontAddr(t *testing.T) string { return freeAddrIn(t, "127.0.0.124", 9000, 9500) }

const outsideLine = "session outside its connector's configuration now in force"

// requiredConf is one connector, secure, at addr with a certificate,
// AUTH from creds and the given tls and auth extras (YAML flow), on
// ranges.
func requiredConf(addr, ranges, cert, key, creds, tlsExtra, authExtra string) string {
	return fmt.Sprintf(`
  - name: secure
    bindings: [%q]
    remote_ranges: [%s]
    tls: {cert_file: %q, key_file: %q%s}
    auth: {mechanisms: [PLAIN], credentials_file: %q%s}
    permissions: {anonymous: [submit], authenticated: [submit, relay]}
`, addr, ranges, cert, key, tlsExtra, creds, authExtra)
}

// SMTP-3 (front38 F1): a session that has not met its own connector's
// tls.required or auth.required yet — every session there begins so —
// is not outside its connector's configuration: no reload took place,
// and its EHLO, STARTTLS, AUTH and MAIL log no reload's narrowing. The
// line belongs to a reload that moved the session out of its connector.
func TestSMTP3RequiredConnectorSessionLogsNoReload(t *testing.T) {
	cert, key, pool := testCert(t)
	creds := credsFile(t)
	for _, tc := range []struct{ name, tlsExtra, authExtra string }{
		{"tls.required and auth.required", ", required: true", ", required: true"},
		{"tls.required only", ", required: true", ""},
		{"auth.required with allow_insecure", "", ", required: true, allow_insecure: true"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs lockedBuf
			addr := frontAddr(t)
			s := startWith(t, ServerConfig{Log: slog.New(slog.NewTextHandler(&logs, nil)),
				Connectors: connectors(t, requiredConf(addr, `"0.0.0.0/0", "::/0"`, cert, key, creds, tc.tlsExtra, tc.authExtra))})
			d := dial(t, s, "127.0.0.124")
			d.expect("220")
			d.cmd("EHLO c.test", "250")
			d.cmd("QUIT", "221")
			d.closed()
			d = dial(t, s, "127.0.0.124")
			d.expect("220")
			d.cmd("EHLO c.test", "250")
			d.cmd("NOOP", "250")
			d.startTLS(pool)
			d.cmd("EHLO c.test", "250")
			d.cmd(plainAuth("alice", "secret"), "235")
			d.cmd("MAIL FROM:<alice@example.test>", "250")
			d.cmd("RCPT TO:<x@remote.test>", "250")
			d.cmd("QUIT", "221")
			d.closed()
			if strings.Contains(logs.String(), outsideLine) {
				t.Errorf("no reload took place, yet a session of the connector was logged outside it:\n%s", logs.String())
			}
		})
	}
}

// SMTP-3 (front38 F1, the other side): a reload that narrows the ranges
// of a tls.required connector away from a session that greeted before it
// (and had not met tls.required yet) is logged, once, at the session's
// next MAIL — its EHLO before the reload used up nothing — naming no
// connector at its address.
func TestSMTP3RequiredConnectorNarrowedByReloadLogged(t *testing.T) {
	cert, key, _ := testCert(t)
	creds := credsFile(t)
	var logs lockedBuf
	addr := frontAddr(t)
	s := startWith(t, ServerConfig{Log: slog.New(slog.NewTextHandler(&logs, nil)),
		Connectors: connectors(t, requiredConf(addr, `"127.0.0.0/8"`, cert, key, creds, ", required: true", ", required: true"))})
	d := dial(t, s, "127.0.0.124")
	d.expect("220")
	d.cmd("EHLO c.test", "250")
	d.cmd("EHLO c.test", "250")
	if err := s.Reload(connectors(t, requiredConf(addr, `"127.0.0.125/32"`, cert, key, creds, ", required: true", ", required: true")), testTable()); err != nil {
		t.Fatal(err)
	}
	d.cmd("MAIL FROM:<a@ext.test>", "530")
	d.cmd("MAIL FROM:<a@ext.test>", "530")
	got := logs.String()
	if n := strings.Count(got, outsideLine); n != 1 {
		t.Fatalf("a reload narrowed the connector's ranges away from the session: want its line once, got %d:\n%s", n, got)
	}
	line := got[strings.Index(got, outsideLine):]
	line = line[:strings.IndexByte(line, '\n')]
	if !strings.Contains(line, "connector_in_force=secure") || !strings.Contains(line, `connector_at_address=""`) {
		t.Errorf("want the connector in force and none at the address named: %s", line)
	}
}
