package smtp

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// secureConnector demands TLS for AUTH (allow_insecure: false) and lets
// only authenticated sessions relay.
func secureConnector(t *testing.T, extra string) (string, []byte) {
	t.Helper()
	cert, key, _ := testCert(t)
	return fmt.Sprintf(`
  - name: secure
    bindings: ["127.0.0.1:0"]
    tls: {cert_file: %q, key_file: %q}
    auth: {mechanisms: [PLAIN], credentials_file: %q}
    permissions: {anonymous: [submit], authenticated: [submit, relay]}
%s`, cert, key, credsFile(t), extra), nil
}

// A malformed BDAT is refused, and the bytes after it are commands, never
// a chunk: the verb layer and go-smtp once disagreed here, and the AUTH
// that followed ran in cleartext on a connector that forbids it.
func TestMalformedBDATSmugglesNothing(t *testing.T) {
	yaml, _ := secureConnector(t, "")
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, yaml)...)
	auth := authAlice + "\r\n"
	for _, bdat := range []string{
		fmt.Sprintf("BDAT +%d", len(auth)),
		fmt.Sprintf("BDAT %d FOO", len(auth)),
		fmt.Sprintf("BDAT %d LAST X", len(auth)),
		"BDAT 4294967296",
		fmt.Sprintf("BDAT  %d", len(auth)),
		fmt.Sprintf("BDAT %d\tLAST", len(auth)),
		fmt.Sprintf("BDAT 0x%x", len(auth)),
		"BDAT",
	} {
		t.Run(bdat, func(t *testing.T) {
			d := dial(t, s, "")
			d.expect("220")
			d.cmd("EHLO c", "250")
			d.cmd("MAIL FROM:<a@example.org>", "250")
			d.cmd("RCPT TO:<b@example.test>", "250")
			d.send(bdat + "\r\n" + auth)
			d.expect("501 5.5.4")
			d.expect("538 5.7.11") // the AUTH line is a command, refused before TLS
			d.cmd("RCPT TO:<x@elsewhere.org>", "550 5.7.1")
			d.cmd("QUIT", "221")
		})
	}
	if q.count() != 0 {
		t.Fatalf("%d messages queued", q.count())
	}
}

// A well-formed BDAT's chunk is data, even when it looks like commands,
// and even when the BDAT itself is refused (no transaction).
func TestBDATChunkIsNeverCommands(t *testing.T) {
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, anon)...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	chunk := "NOOP\r\nRCPT TO:<x@example.test>\r\n"
	d.send(fmt.Sprintf("BDAT %d\r\n%s", len(chunk), chunk))
	d.expect("503 5.5.1") // no transaction: the chunk is read and dropped
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	c1, c2 := "Subject: c\r\n\r\nMAIL FROM:<e@x>\r\n", "DATA\r\nQUIT\r\n"
	d.send(fmt.Sprintf("BDAT %d\r\n%sBDAT %d LAST\r\n%sNOOP\r\n", len(c1), c1, len(c2), c2))
	d.expect("250 2.0.0")
	d.expect("250 2.0.0 Ok: queued")
	d.expect("250")
	if q.count() != 1 || !strings.HasSuffix(string(q.bodies[0]), c1+c2) || len(q.msgs[0].Rcpts) != 1 {
		t.Fatalf("BDAT body: %q", q.bodies)
	}
	// BDAT during a BDAT transfer orders DATA out; RSET ends the transfer.
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.send("BDAT 3\r\nabc")
	d.expect("250")
	d.cmd("DATA", "503 5.5.1")
	d.cmd("RSET", "250")
	d.send("BDAT 3 LAST\r\nabc")
	d.expect("503 5.5.1")
	if q.count() != 1 {
		t.Fatalf("%d messages queued", q.count())
	}
}

// A command line without its CRLF is never executed: not when the idle
// timeout fires, not when the client closes its side.
func TestPartialLineNeverExecuted(t *testing.T) {
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, `
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {idle_timeout: 1s}
`)...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.send("MAIL FROM:<a@example.org>")
	d.expect("421 4.4.2") // the timeout, not a 250
	if got := d.reply(); !strings.HasPrefix(got, "EOF") {
		t.Fatalf("after the timeout: %q", got)
	}

	d = dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.send("NOOP")
	d.conn.(*net.TCPConn).CloseWrite()
	if got := d.reply(); !strings.HasPrefix(got, "EOF") {
		t.Fatalf("a partial line at EOF was executed: %q", got)
	}
}

// A command line ending in a bare LF is refused, and what follows it is
// never a BDAT chunk.
func TestBareLFCommandRefused(t *testing.T) {
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, anon)...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.send("NOOP\n")
	d.expect("500 5.5.2")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.send("BDAT 6 LAST\nNOOP\r\n")
	d.expect("500 5.5.2")
	d.expect("250") // NOOP ran as a command
	d.send("NOOP\r\rRSET\r\n")
	d.expect("500 5.5.2") // a bare CR inside a command line
	d.cmd("NOOP", "250")
	if q.count() != 0 {
		t.Fatalf("%d messages queued", q.count())
	}
}

// STARTTLS discards the transaction and the greeting (RFC 3207 §4.2):
// nothing but a new EHLO (or HELO, RSET, NOOP, QUIT) is taken before the
// client greets again, and no message without recipients is queued.
func TestSTARTTLSDiscardsState(t *testing.T) {
	cert, key, pool := testCert(t)
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, fmt.Sprintf(`
  - name: tls
    bindings: ["127.0.0.1:0"]
    tls: {cert_file: %q, key_file: %q}
    permissions: {anonymous: [submit]}
`, cert, key))...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.startTLS(pool)
	d.cmd("DATA", "503 5.5.1")
	d.send("BDAT 2 LAST\r\nhi")
	d.expect("503 5.5.1")
	d.cmd("MAIL FROM:<a@example.org>", "503 5.5.1")
	d.cmd("RCPT TO:<b@example.test>", "503 5.5.1")
	d.cmd("NOOP", "250")
	d.cmd("EHLO c", "250")
	d.cmd("DATA", "502 5.5.1") // the transaction is gone
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.cmd("DATA", "354")
	d.cmd("Subject: t\r\n\r\nhi\r\n.", "250")
	if q.count() != 1 || len(q.msgs[0].Rcpts) != 1 || q.msgs[0].From != "a@example.org" {
		t.Fatalf("queued: %d", q.count())
	}
}

// Bare CR is refused like bare LF, in DATA and in BDAT: "\r.\r" ends DATA
// at some next hops (SMTP smuggling).
func TestBareCRRefused(t *testing.T) {
	for name, body := range map[string]string{
		"CR.CR":     "Subject: x\r\n\r\nhi\r.\rMAIL FROM:<evil@example.org>\r\n",
		"CR.CRLF":   "Subject: x\r\n\r\nhi\r.\r\nMAIL FROM:<evil@example.org>\r\n",
		"lone CR":   "Subject: x\r\n\r\nline\rmore\r\n",
		"CR at end": "Subject: x\r\n\r\nline\r",
	} {
		t.Run(name, func(t *testing.T) {
			q := &fakeQueue{}
			s := startServer(t, q, connectors(t, anon)...)
			d := dial(t, s, "")
			d.expect("220")
			d.openData()
			d.cmd(body+"\r\n.", "554 5.6.0")
			d.cmd("MAIL FROM:<a@example.org>", "250")
			d.cmd("RCPT TO:<b@example.test>", "250")
			d.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(body), body))
			d.expect("554 5.6.0")
			d.cmd("NOOP", "250")
			if q.count() != 0 {
				t.Fatal("queued anyway")
			}
		})
	}
}

// With bare_newlines: normalize, bare CR and bare LF become CRLF.
func TestBareNewlinesNormalised(t *testing.T) {
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, `
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    bare_newlines: normalize
`)...)
	d := dial(t, s, "")
	d.expect("220")
	d.openData()
	d.cmd("Subject: x\r\n\r\na\rb\nc\r.\r\n.", "250")
	body := "Subject: y\r\n\r\nd\re\n"
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(body), body))
	d.expect("250")
	if q.count() != 2 {
		t.Fatalf("%d queued", q.count())
	}
	if got := string(q.bodies[0]); !strings.HasSuffix(got, "\r\n\r\na\r\nb\r\nc\r\n.\r\n") {
		t.Errorf("DATA body: %q", got)
	}
	if got := string(q.bodies[1]); !strings.HasSuffix(got, "\r\n\r\nd\r\ne\r\n") {
		t.Errorf("BDAT body: %q", got)
	}
}

// Commands outside a mail transaction are bounded; past the limit the
// session ends with 421 4.7.0.
func TestJunkCommandLimit(t *testing.T) {
	s := startServer(t, &fakeQueue{}, connectors(t, `
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {max_junk_commands: 10}
`)...)
	d := dial(t, s, "")
	d.expect("220")
	d.send("EHLO c\r\n" + strings.Repeat("NOOP\r\n", 30))
	d.expect("250")
	for i := 0; i < 9; i++ {
		d.expect("250")
	}
	d.expect("421 4.7.0")
	if got := d.reply(); !strings.HasPrefix(got, "EOF") {
		t.Fatalf("session goes on after the junk limit: %q", got)
	}

	// A completed transaction resets the count.
	d = dial(t, s, "")
	d.expect("220")
	for i := 0; i < 4; i++ {
		d.cmd("EHLO c", "250")
		d.cmd("NOOP", "250")
		d.cmd("RSET", "250")
		d.cmd("MAIL FROM:<a@example.org>", "250")
		d.cmd("RCPT TO:<b@example.test>", "250")
		d.cmd("DATA", "354")
		d.cmd("Subject: j\r\n\r\nhi\r\n.", "250")
	}
}

// Authenticated transport servers (kept-open shadow sessions) are exempt
// from the junk limit.
func TestJunkLimitExemptsTransportServers(t *testing.T) {
	sh := &fakeShadow{notes: map[string][]string{}}
	s := startShadowServer(t, &fakeQueue{}, sh, true, transportConnector(t, "    limits: {max_junk_commands: 5}\n"))
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2", "250")
	for i := 0; i < 20; i++ {
		d.cmd("XQUERYDISCARD 10", "250 2.0.0 0 discard")
		d.cmd("NOOP", "250")
	}
}

// Errors per session are bounded: past max_errors the session ends with
// 421 4.7.0.
func TestErrorLimit(t *testing.T) {
	s := startServer(t, &fakeQueue{}, connectors(t, `
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {max_errors: 5, max_recipients: 100}
`)...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	for i := 0; i < 4; i++ {
		d.cmd(fmt.Sprintf("RCPT TO:<x%d@elsewhere.org>", i), "550 5.7.1")
	}
	d.send("RCPT TO:<y@elsewhere.org>\r\nNOOP\r\n")
	d.expect("550 5.7.1")
	d.expect("421 4.7.0")
	if got := d.reply(); !strings.HasPrefix(got, "EOF") {
		t.Fatalf("session goes on after the error limit: %q", got)
	}
}

var _ = time.Second
