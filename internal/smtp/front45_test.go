package smtp

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/config"
)

// front45Addr: the address of the front45 tests, 127.0.0.198, ports
// 13000-13499.
func front45Addr(t *testing.T) string { return freeAddrIn(t, "127.0.0.198", 13000, 13500) }

// dialAddr is dial to one of a server's bindings, addr.
func dialAddr(t *testing.T, addr string) *dialog {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	t.Cleanup(func() { c.Close() })
	return &dialog{t: t, conn: c, r: bufio.NewReader(c)}
}

// TestSR1DigestNotOnConnectorGrantingNoXShadow (SR-1, W-1; rt45-front
// item 1, which failed before the fix: the digest was in both EHLO
// replies): XSHADOWDB goes only on a connector where a server could open
// a shadow session — one granting accept-xshadow to some list. A
// credentials file holding a server account does not make a connector
// that grants it to nobody such a connector: XSHADOW there is 502 to
// every session, a server account's too, so the digest told an
// anonymous client something no server could use. Both forms of the
// report: a "client" connector (TLS and AUTH required, authenticated:
// [submit, relay]) after STARTTLS, and a "legacy" one in cleartext; and
// the same legacy connector granting accept-xshadow to servers still
// carries it, as does one granting servers rights without accept-xshadow
// (shadow29 item 6).
func TestSR1DigestNotOnConnectorGrantingNoXShadow(t *testing.T) {
	cert, key, pool := testCert(t)
	creds := credsFile(t)
	sh := &fakeShadow{notes: map[string][]string{}}
	s := startShadowServer(t, &fakeQueue{}, sh, true, connectors(t, fmt.Sprintf(`
  - name: client
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    tls: {cert_file: %q, key_file: %q, required: true}
    auth: {mechanisms: [PLAIN, LOGIN], credentials_file: %q, required: true}
    permissions: {authenticated: [submit, relay]}
  - name: legacy
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    auth: {mechanisms: [PLAIN, LOGIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit, relay]}
  - name: granting
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    auth: {mechanisms: [PLAIN, LOGIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit, relay], servers: [submit, relay, accept-xshadow]}
  - name: servers
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    auth: {mechanisms: [PLAIN, LOGIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit, relay], servers: [submit, relay]}
`, front45Addr(t), cert, key, creds, front45Addr(t), creds, front45Addr(t), creds, front45Addr(t), creds)))
	at := func(i int) *dialog {
		d := dialAddr(t, s.Addrs()[i].String())
		d.expect("220")
		return d
	}

	d := at(0)
	d.cmd("EHLO c.test", "250")
	d.startTLS(pool)
	if ehlo := d.cmd("EHLO c.test", "250"); strings.Contains(ehlo, "XSHADOWDB") {
		t.Errorf("client connector (no accept-xshadow) after STARTTLS offers the digest:\n%s", ehlo)
	}
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2", "502 5.5.1 XSHADOW not available")
	d.cmd("QUIT", "221")

	d = at(1)
	if ehlo := d.cmd("EHLO c.test", "250"); strings.Contains(ehlo, "XSHADOWDB") {
		t.Errorf("legacy connector (no accept-xshadow) in cleartext offers the digest:\n%s", ehlo)
	}
	d.cmd("QUIT", "221")

	d = at(2)
	if ehlo := d.cmd("EHLO c.test", "250"); !strings.Contains(ehlo, "XSHADOWDB ") || !strings.Contains(ehlo, "XSHADOW") {
		t.Errorf("connector granting servers accept-xshadow offers no digest before AUTH:\n%s", ehlo)
	}
	d.cmd("QUIT", "221")

	// A connector granting servers rights but not accept-xshadow (a
	// reload took it away) keeps the digest: a holder logging in there
	// must read its refused heartbeat as the primary's (shadow29 item 6).
	d = at(3)
	if ehlo := d.cmd("EHLO c.test", "250"); !strings.Contains(ehlo, "XSHADOWDB ") || offersXShadow(ehlo) {
		t.Errorf("connector granting servers rights without accept-xshadow: want the digest, no XSHADOW:\n%s", ehlo)
	}
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2", "502 5.5.1 XSHADOW not available")
	d.cmd("QUIT", "221")
}

// TestSMTP1NonKeywordAfterPathIsSyntaxError (SMTP-1; rt45-front item 2,
// which failed before the fix: 555 5.5.4 "RCPT TO parameter
// <R@ELSEWHERE.TEST> not recognized"): what follows a path and is no
// esmtp-keyword (RFC 5321 §4.1.2: ALPHA/DIGIT then ALPHA/DIGIT/"-") — a
// second address, a comma list — is no parameter this server does not
// know but a syntax error, 501 5.5.4, naming the text as the client
// wrote it (never upper-cased); an unknown keyword stays 555.
func TestSMTP1NonKeywordAfterPathIsSyntaxError(t *testing.T) {
	s := startServer(t, &fakeQueue{}, connectors(t, fmt.Sprintf(`
  - name: default
    bindings: [%q]
    permissions: {anonymous: [submit]}
`, front45Addr(t)))...)
	d := dialAddr(t, s.Addrs()[0].String())
	d.expect("220")
	d.cmd("EHLO c", "250")
	for _, c := range []struct{ line, want string }{
		{"MAIL FROM:<a@o.test> <b@o.test>", "501 5.5.4 Syntax error in MAIL FROM parameters: <b@o.test> is no keyword"},
		{"MAIL FROM:<a@o.test>,<b@o.test>", "501 5.5.4 Syntax error in MAIL FROM parameters: ,<b@o.test> is no keyword"},
		{"MAIL FROM:<a@o.test> -x=1", "501 5.5.4 Syntax error in MAIL FROM parameters: -x is no keyword"},
		{"MAIL FROM:<a@o.test> Foo=1", "555 5.5.4 MAIL FROM parameter FOO not recognized"},
	} {
		if got := d.cmd(c.line, "5"); got != c.want {
			t.Errorf("%q: %q, want %q", c.line, got, c.want)
		}
	}
	d.cmd("MAIL FROM:<a@o.test>", "250")
	for _, c := range []struct{ line, want string }{
		{"RCPT TO:<alice@example.test> <r@elsewhere.test>", "501 5.5.4 Syntax error in RCPT TO parameters: <r@elsewhere.test> is no keyword"},
		{"RCPT TO:<r@elsewhere.test>,<alice@example.test>", "501 5.5.4 Syntax error in RCPT TO parameters: ,<alice@example.test> is no keyword"},
		{"RCPT TO:<alice@example.test> x-y=1", "555 5.5.4 RCPT TO parameter X-Y not recognized"},
	} {
		if got := d.cmd(c.line, "5"); got != c.want {
			t.Errorf("%q: %q, want %q", c.line, got, c.want)
		}
	}
	d.cmd("RCPT TO:<alice@example.test>", "250")
	d.cmd("QUIT", "221")
}

// TestSMTP1NonKeywordAfterPathAfterHELO (SMTP-1; sibling of rt45-front
// item 2, which failed before the fix: 555 5.5.4 "parameters need EHLO,
// not HELO"): after a plain HELO a second address after the path is no
// parameter either — the client used no extension it would need EHLO
// for — but the same syntax error as after EHLO.
func TestSMTP1NonKeywordAfterPathAfterHELO(t *testing.T) {
	s := startServer(t, &fakeQueue{}, connectors(t, fmt.Sprintf(`
  - name: default
    bindings: [%q]
    permissions: {anonymous: [submit]}
`, front45Addr(t)))...)
	d := dialAddr(t, s.Addrs()[0].String())
	d.expect("220")
	d.cmd("HELO c", "250")
	d.cmd("MAIL FROM:<a@o.test> <b@o.test>", "501 5.5.4 Syntax error in MAIL FROM parameters: <b@o.test> is no keyword")
	d.cmd("MAIL FROM:<a@o.test> SIZE=10", "555 5.5.4 MAIL FROM parameters need EHLO, not HELO")
	d.cmd("MAIL FROM:<a@o.test>", "250")
	d.cmd("RCPT TO:<alice@example.test>,<b@example.test>", "501 5.5.4 Syntax error in RCPT TO parameters: ,<b@example.test> is no keyword")
	d.cmd("RCPT TO:<alice@example.test> NOTIFY=NEVER", "555 5.5.4 RCPT TO parameters need EHLO, not HELO")
	d.cmd("RCPT TO:<alice@example.test>", "250")
	d.cmd("QUIT", "221")
}

// TestSR1DigestNotBeforeCertificateOnConnectorGrantingNoXShadow (SR-1,
// W-1; sibling of rt45-front item 1): a connector verifying client
// certificates that grants neither accept-xshadow nor transport servers
// any right is no connector a server could open a shadow session on
// either: its EHLO before STARTTLS carries no XSHADOWDB; one granting
// servers rights without accept-xshadow keeps it (shadow29 item 6), as
// one granting accept-xshadow does. The first case failed with the check
// disabled.
func TestSR1DigestNotBeforeCertificateOnConnectorGrantingNoXShadow(t *testing.T) {
	caPEM, _, _ := orgPKI(t)
	caFile := filepath.Join(t.TempDir(), "org-ca.pem")
	if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	cert, key, _ := testCert(t)
	conns := func(perms string) []config.ReceiveConnector {
		return connectors(t, fmt.Sprintf(`
  - name: transport
    bindings: [%q]
    tls: {cert_file: %q, key_file: %q, client_ca_file: %q}
    permissions: {%s}
`, front45Addr(t), cert, key, caFile, perms))
	}
	for _, c := range []struct {
		perms string
		want  bool
	}{
		{"anonymous: [submit]", false},
		{"anonymous: [submit], servers: [submit, relay]", true},
		{"anonymous: [submit], servers: [submit, relay, accept-xshadow]", true},
	} {
		s := startShadowServer(t, &fakeQueue{}, &fakeShadow{notes: map[string][]string{}}, true, conns(c.perms))
		d := dialAddr(t, s.Addrs()[0].String())
		d.expect("220")
		if ehlo := d.cmd("EHLO hub7.test", "250"); offersKeyword(ehlo, "XSHADOWDB") != c.want {
			t.Errorf("permissions {%s}: XSHADOWDB before STARTTLS %v, want %v:\n%s", c.perms, !c.want, c.want, ehlo)
		}
		d.cmd("QUIT", "221")
	}
}
