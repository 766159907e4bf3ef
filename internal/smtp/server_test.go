package smtp

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

const anon = `
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {max_recipients: 3, max_message_size: 2000, max_connections_per_source: 2}
`

func TestAcceptAndTraceHeader(t *testing.T) {
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, anon)...)
	d := dial(t, s, "")
	banner := d.expect("220 mx.test")
	_ = banner
	ehlo := d.cmd("EHLO client.example", "250")
	for _, ext := range []string{"PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8", "DSN", "SIZE 2000"} {
		if !strings.Contains(ehlo, ext) {
			t.Errorf("EHLO lacks %s:\n%s", ext, ehlo)
		}
	}
	d.cmd("MAIL FROM:<a@example.org> RET=HDRS ENVID=e1", "250 2.1.0")
	d.cmd("RCPT TO:<Bob@Example.TEST> NOTIFY=FAILURE,DELAY", "250 2.1.5")
	d.cmd("DATA", "354")
	reply := d.cmd("Subject: hi\r\n\r\n..leading dot\r\nbody\r\n.", "250 2.0.0 Ok: queued as 0000000000001001")
	_ = reply
	d.cmd("QUIT", "221")
	if q.count() != 1 {
		t.Fatalf("%d messages submitted", q.count())
	}
	m, body := q.msgs[0], string(q.bodies[0])
	if m.From != "a@example.org" || m.Rcpts[0].Addr != "Bob@example.test" || m.EnvID != "e1" || m.ClientIP != "127.0.0.1" ||
		!m.RetHdrs || m.RetFull {
		t.Errorf("envelope: %+v", m)
	}
	if !strings.HasPrefix(body, "Received: from client.example ([127.0.0.1])\r\n\tby mx.test (umbra) with ESMTP id 0000000000001001\r\n\tfor <Bob@example.test>;") {
		t.Errorf("trace header:\n%s", body)
	}
	if !strings.HasSuffix(body, "\r\nSubject: hi\r\n\r\n.leading dot\r\nbody\r\n") {
		t.Errorf("body not byte-exact (dot-unstuffed):\n%q", body)
	}
}

func TestReplies(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script [][2]string // command, expected reply prefix
	}{
		{"relay denied for anonymous", [][2]string{{"EHLO c", "250"}, {"MAIL FROM:<a@example.org>", "250"},
			{"RCPT TO:<x@elsewhere.org>", "550 5.7.1"}, {"RCPT TO:<x@relay.test>", "250"}}},
		{"bad sender", [][2]string{{"EHLO c", "250"}, {"MAIL FROM:<a@@b>", "501 5.1.7"}}},
		{"bad recipient", [][2]string{{"EHLO c", "250"}, {"MAIL FROM:<>", "250"}, {"RCPT TO:<no-domain@>", "501 5.1.3 Bad recipient address syntax: no domain after '@'"}, {"RCPT TO:<user@-bad-.test>", "501 5.1.3"},
			{"RCPT TO:<a..b@example.test>", "501 5.1.3"}}},
		{"non-ASCII without SMTPUTF8", [][2]string{{"EHLO c", "250"}, {"MAIL FROM:<a@example.org>", "250"},
			{"RCPT TO:<jörg@example.test>", "553 5.6.7"}}},
		{"non-ASCII with SMTPUTF8", [][2]string{{"EHLO c", "250"}, {"MAIL FROM:<a@example.org> SMTPUTF8", "250"},
			{"RCPT TO:<jörg@example.test>", "250"}}},
		// An accepted domain matches in either spelling of an
		// internationalised name: configured as A-label, given as U-label
		// (SMTPUTF8), and the reverse; an invalid IDN is a precise refusal.
		{"U-label of an A-label accepted domain", [][2]string{{"EHLO c", "250"}, {"MAIL FROM:<a@example.org> SMTPUTF8", "250"},
			{"RCPT TO:<anna@bücher.example>", "250"}, {"RCPT TO:<anna@BÜCHER.example>", "250"}}},
		{"A-label of a U-label accepted domain", [][2]string{{"EHLO c", "250"}, {"MAIL FROM:<a@example.org>", "250"},
			{"RCPT TO:<anna@xn--strae-oqa.example>", "250"}, {"RCPT TO:<anna@XN--STRAE-OQA.example>", "250"}}},
		{"invalid IDN recipient", [][2]string{{"EHLO c", "250"}, {"MAIL FROM:<a@example.org> SMTPUTF8", "250"},
			{"RCPT TO:<anna@xn--zz.example>", "553 5.1.3 Invalid internationalized domain name"},
			{"RCPT TO:<anna@bü_cher.example>", "553 5.1.3 Invalid internationalized domain name"},
			// The refused label is echoed as all client text is, each
			// byte outside printable ASCII \xNN, never Go's quoting
			// (rt17b-F4): U+00AD is \xc2\xad, not \u00ad.
			{"RCPT TO:<alice@exa\u00admple.test>", "553 5.1.3 Invalid internationalized domain name: label exa\\xc2\\xadmple: disallowed rune U+00AD (IDNA ignores it)"},
			{"RCPT TO:<alice@exa\u200bmple.test>", "553 5.1.3 Invalid internationalized domain name: label exa\\xe2\\x80\\x8bmple: disallowed rune U+200B (IDNA ignores it)"}}},
		{"invalid IDN sender", [][2]string{{"EHLO c", "250"}, {"MAIL FROM:<a@xn--zz.example>", "553 5.1.7 Invalid internationalized domain name"}}},
		{"too many recipients", [][2]string{{"EHLO c", "250"}, {"MAIL FROM:<>", "250"}, {"RCPT TO:<a@example.test>", "250"},
			{"RCPT TO:<b@example.test>", "250"}, {"RCPT TO:<c@example.test>", "250"}, {"RCPT TO:<d@example.test>", "452 4.5.3"}}},
		{"declared size too big", [][2]string{{"EHLO c", "250"}, {"MAIL FROM:<a@example.org> SIZE=5000", "552 5.3.4"}}},
		{"DATA before RCPT", [][2]string{{"EHLO c", "250"}, {"MAIL FROM:<a@example.org>", "250"}, {"DATA", "503 5.5.1"}}},
		{"MAIL before EHLO", [][2]string{{"MAIL FROM:<a@example.org>", "503 5.5.1"}}},
		{"unknown command", [][2]string{{"EHLO c", "250"}, {"FOOO bar", "500 5.5.1"}, {"FOO bar", "500 5.5.1"}}},
		{"AUTH not offered", [][2]string{{"EHLO c", "250"}, {"AUTH PLAIN AGFsaWNlAHNlY3JldA==", "502 5.5.1"}}}, // not implemented here (RFC 5321 §4.2.4)
		{"STARTTLS not offered", [][2]string{{"EHLO c", "250"}, {"STARTTLS", "502 5.5.1"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, &fakeQueue{}, connectors(t, anon)...)
			d := dial(t, s, "")
			d.expect("220")
			for _, step := range tc.script {
				d.cmd(step[0], step[1])
			}
		})
	}
}

func TestMessageSizeLimit(t *testing.T) {
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, anon)...)
	d := dial(t, s, "")
	d.expect("220")
	d.openData()
	d.cmd(strings.Repeat("x", 900)+"\r\n"+strings.Repeat("y", 900)+"\r\n"+strings.Repeat("z", 900)+"\r\n.", "552 5.3.4")
	d.cmd("NOOP", "250") // the session goes on
	if q.count() != 0 {
		t.Fatal("an oversize message was queued")
	}
}

// A body of max_message_size bytes is taken (the limit is inclusive,
// RFC 1870), one byte more is refused — whether the verb layer holds the body or, far too big, reads
// on to its end keeping nothing.
func TestMessageSizeBoundary(t *testing.T) {
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, anon)...)
	body := func(n int) string { // n bytes once unstuffed, in lines of 80
		var b strings.Builder
		for n > 0 {
			k := min(80, n-2)
			if n-(k+2) == 1 { // never leave a 1-byte rest
				k--
			}
			b.WriteString(strings.Repeat("x", k) + "\r\n")
			n -= k + 2
		}
		return b.String()
	}
	d := dial(t, s, "")
	d.expect("220")
	for _, tc := range []struct {
		size int
		want string
	}{{1999, "250"}, {2000, "250"}, {2001, "552 5.3.4"}, {9000, "552 5.3.4"}} {
		d.openData()
		d.cmd(body(tc.size)+".", tc.want)
		d.cmd("NOOP", "250")
	}
	if q.count() != 2 {
		t.Fatalf("%d messages queued, want 2", q.count())
	}
}

func TestBareLFAndNULRejected(t *testing.T) {
	for name, data := range map[string]string{
		"bare LF": "Subject: x\r\n\r\nline one\nline two\r\n.",
		"NUL":     "Subject: x\r\n\r\nnul\x00here\r\n.",
	} {
		t.Run(name, func(t *testing.T) {
			q := &fakeQueue{}
			s := startServer(t, q, connectors(t, anon)...)
			d := dial(t, s, "")
			d.expect("220")
			d.openData()
			d.cmd(data, "554 5.6.0")
			if q.count() != 0 {
				t.Fatal("queued anyway")
			}
		})
	}
}

// A bare "\n.\n" must not end DATA: that is the SMTP smuggling pattern.
func TestNoSmuggling(t *testing.T) {
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, anon)...)
	d := dial(t, s, "")
	d.expect("220")
	d.openData()
	d.cmd("Subject: x\r\n\r\nhi\n.\nMAIL FROM:<evil@example.org>\r\nRCPT TO:<victim@example.test>\r\n.", "554 5.6.0")
	if q.count() != 0 {
		t.Fatal("smuggled message queued")
	}
}

func TestPipelining(t *testing.T) {
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, anon)...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\nRCPT TO:<x@elsewhere.org>\r\nRCPT TO:<c@example.test>\r\nDATA\r\n")
	for _, want := range []string{"250", "250", "550 5.7.1", "250", "354"} {
		d.expect(want)
	}
	// A body line that looks like a command is data, not a command.
	d.send("RCPT TO:<evil@elsewhere.org>\r\nQUIT\r\n.\r\nNOOP\r\n")
	d.expect("250 2.0.0 Ok: queued")
	d.expect("250")
	if q.count() != 1 || len(q.msgs[0].Rcpts) != 2 || !strings.Contains(string(q.bodies[0]), "RCPT TO:<evil@elsewhere.org>\r\nQUIT\r\n") {
		t.Fatalf("pipelined transaction: %d messages", q.count())
	}
}

func TestLongLineAndGarbageCloseSession(t *testing.T) {
	s := startServer(t, &fakeQueue{}, connectors(t, anon)...)
	d := dial(t, s, "")
	d.expect("220")
	d.send(strings.Repeat("A", 5000) + "\r\n")
	if got := d.reply(); !strings.HasPrefix(got, "421 4.7.0") {
		t.Fatalf("long line: %q", got)
	}
	if got := d.reply(); !strings.HasPrefix(got, "EOF") {
		t.Fatalf("connection stays open after a too-long line: %q", got)
	}

	d = dial(t, s, "")
	d.expect("220")
	// Garbage is an error under umbra's own limit (max_errors, 421
	// 4.7.0: TestUnknownCommandsUnderErrorLimit), not go-smtp's.
	for i := 0; i < 5; i++ {
		d.cmd("\x01\x02 garbage", "500 5.5.1")
	}
	d.cmd("NOOP", "250")
}

func TestQueueFailureReplies(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{{errDiskFull, "452 4.3.1"}, {errors.New("bolt: something"), "451 4.3.0"},
		{fmt.Errorf("mmap allocate error: file resize error: %s", syscall.EFBIG), "452 4.3.1"}} { // bbolt drops the errno
		q := &fakeQueue{failWith: tc.err}
		s := startServer(t, q, connectors(t, anon)...)
		d := dial(t, s, "")
		d.expect("220")
		d.openData()
		got := d.cmd("Subject: x\r\n\r\nhi\r\n.", tc.want)
		if strings.Contains(got, "bolt") {
			t.Errorf("internal error text leaked to the client: %q", got)
		}
	}
}

func TestConnectionLimits(t *testing.T) {
	s := startServer(t, &fakeQueue{}, connectors(t, anon)...) // max 2 per source
	a, b := dial(t, s, "127.0.0.1"), dial(t, s, "127.0.0.1")
	a.expect("220")
	b.expect("220")
	dial(t, s, "127.0.0.1").expect("421 4.3.2")
	dial(t, s, "127.0.0.3").expect("220") // another source is not affected
	a.cmd("QUIT", "221")
	a.reply()
	deadline := time.Now().Add(5 * time.Second)
	for {
		d := dial(t, s, "127.0.0.1")
		if got := d.reply(); strings.HasPrefix(got, "220") {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("slot not released after QUIT: %q", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Two connectors share a binding; the more specific remote range wins, and
// an address outside every range is refused.
func TestConnectorSelectionByRemoteRange(t *testing.T) {
	conns := connectors(t, `
  - name: internet
    bindings: ["127.0.0.1:0"]
    remote_ranges: ["127.0.0.0/30"]
    permissions: {anonymous: [submit]}
  - name: trusted
    bindings: ["127.0.0.1:0"]
    remote_ranges: ["127.0.0.2/32"]
    banner: trusted.mx.test
    permissions: {anonymous: [submit, relay]}
`)
	s := startServer(t, &fakeQueue{}, conns...)
	d := dial(t, s, "127.0.0.1")
	d.expect("220 mx.test")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<x@elsewhere.org>", "550 5.7.1")

	d = dial(t, s, "127.0.0.2")
	d.expect("220 trusted.mx.test")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<x@elsewhere.org>", "250")

	dial(t, s, "127.0.0.9").expect("554 5.7.1")
}

func TestAuth(t *testing.T) {
	creds := credsFile(t)
	conns := connectors(t, fmt.Sprintf(`
  - name: submission
    bindings: ["127.0.0.1:0"]
    auth: {mechanisms: [PLAIN, LOGIN], credentials_file: %q, required: true, allow_insecure: true}
    permissions: {authenticated: [submit, relay]}
    limits: {max_auth_failures: 2}
`, creds))
	s := startServer(t, &fakeQueue{}, conns...)

	d := dial(t, s, "")
	d.expect("220")
	if ehlo := d.cmd("EHLO c", "250"); !strings.Contains(ehlo, "AUTH PLAIN LOGIN") {
		t.Fatalf("AUTH not advertised:\n%s", ehlo)
	}
	d.cmd("MAIL FROM:<a@example.org>", "530 5.7.0")
	d.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "235 2.0.0") // \0alice\0secret
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<x@elsewhere.org>", "250") // authenticated users relay

	d = dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("AUTH LOGIN", "334 VXNlcm5hbWU6")
	d.cmd("YWxpY2U=", "334 UGFzc3dvcmQ6")
	d.cmd("c2VjcmV0", "235")

	d = dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("AUTH PLAIN AGFsaWNlAHdyb25n", "535 5.7.8")     // wrong password
	d.cmd("AUTH PLAIN AG5vYm9keQB3cm9uZw==", "421 4.7.0") // unknown user, second failure: limit
	if got := d.reply(); !strings.HasPrefix(got, "EOF") {
		t.Fatalf("session not ended after the auth failure limit: %q", got)
	}
}

func TestSTARTTLSRequired(t *testing.T) {
	cert, key, pool := testCert(t)
	creds := credsFile(t)
	conns := connectors(t, fmt.Sprintf(`
  - name: secure
    bindings: ["127.0.0.1:0"]
    tls: {cert_file: %q, key_file: %q, required: true}
    auth: {mechanisms: [PLAIN], credentials_file: %q}
    permissions: {anonymous: [submit], authenticated: [submit, relay]}
`, cert, key, creds))
	q := &fakeQueue{}
	s := startServer(t, q, conns...)
	d := dial(t, s, "")
	d.expect("220")
	ehlo := d.cmd("EHLO c", "250")
	if !strings.Contains(ehlo, "STARTTLS") || strings.Contains(ehlo, "AUTH") {
		t.Fatalf("before TLS: STARTTLS offered, AUTH not:\n%s", ehlo)
	}
	d.cmd("MAIL FROM:<a@example.org>", "530 5.7.0")
	// Syntax before policy (rt17b-F5): AUTH without a mechanism is
	// malformed wherever it is sent; a mechanism before TLS is 538.
	d.cmd("AUTH", "501 5.5.4 Syntax: AUTH mechanism")
	d.cmd("AUTH PLAIN", "538 5.7.11")
	d.startTLS(pool)
	if ehlo := d.cmd("EHLO c", "250"); !strings.Contains(ehlo, "AUTH PLAIN") {
		t.Fatalf("after TLS AUTH is offered:\n%s", ehlo)
	}
	d.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "235")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<x@elsewhere.org>", "250")
	d.cmd("DATA", "354")
	d.cmd("Subject: x\r\n\r\nhi\r\n.", "250")
	if body := string(q.bodies[0]); !strings.Contains(body, "with ESMTPSA id") {
		t.Errorf("Received header does not record TLS and auth:\n%s", body)
	}
}

// Shutdown closes idle sessions at once with 421 and lets a transaction in
// DATA finish.
func TestShutdownDrains(t *testing.T) {
	q := &fakeQueue{}
	s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: connectors(t, anon), Routing: testTable(), Queue: q})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	s.Serve()
	idle, busy := dial(t, s, ""), dial(t, s, "127.0.0.2")
	idle.expect("220")
	busy.expect("220")
	idle.cmd("EHLO c", "250")
	busy.cmd("EHLO c", "250")
	busy.cmd("MAIL FROM:<a@example.org>", "250")
	busy.cmd("RCPT TO:<b@example.test>", "250")
	busy.cmd("DATA", "354")
	done := make(chan struct{})
	go func() {
		ctx, cancel := contextWithTimeout(10 * time.Second)
		defer cancel()
		s.Shutdown(ctx)
		close(done)
	}()
	idle.expect("421 4.3.2")
	busy.cmd("Subject: x\r\n\r\nhi\r\n.", "250 2.0.0")
	<-done
	if q.count() != 1 {
		t.Fatal("the transaction in progress was lost")
	}
	if _, err := net.DialTimeout("tcp", s.Addrs()[0].String(), time.Second); err == nil {
		t.Fatal("still accepting after Shutdown")
	}
}

func TestReloadInPlace(t *testing.T) {
	free := func() string {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		defer ln.Close()
		return ln.Addr().String()
	}
	main, extra := free(), free()
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, strings.Replace(anon, "127.0.0.1:0", main, 1))...) // max_recipients 3

	before := dial(t, s, "")
	before.expect("220")
	before.cmd("EHLO c", "250")
	before.cmd("MAIL FROM:<a@example.org>", "250")
	for _, r := range []string{"a", "b", "c"} {
		before.cmd("RCPT TO:<"+r+"@example.test>", "250")
	}

	err := s.Reload(connectors(t, fmt.Sprintf(`
  - name: default
    bindings: [%q]
    permissions: {anonymous: [submit]}
    limits: {max_recipients: 5}
  - name: extra
    bindings: [%q]
    banner: extra.mx.test
    permissions: {anonymous: [submit]}
`, main, extra)), testTable())
	if err != nil {
		t.Fatal(err)
	}
	// The session opened before the reload is not dropped and keeps its
	// connector's settings.
	before.cmd("RCPT TO:<d@example.test>", "452 4.5.3")
	before.cmd("DATA", "354")
	before.cmd("Subject: x\r\n\r\nhi\r\n.", "250 2.0.0")

	after := dial(t, s, "")
	after.expect("220")
	after.cmd("EHLO c", "250")
	after.cmd("MAIL FROM:<a@example.org>", "250")
	for _, r := range []string{"a", "b", "c", "d", "e"} {
		after.cmd("RCPT TO:<"+r+"@example.test>", "250")
	}
	after.cmd("RCPT TO:<f@example.test>", "452 4.5.3")
	c, err := net.Dial("tcp", extra)
	if err != nil {
		t.Fatalf("the new binding is not open: %v", err)
	}
	(&dialog{t: t, conn: c, r: bufio.NewReader(c)}).expect("220 extra.mx.test")
	c.Close()

	// A broken reload leaves the running set alone.
	if err := s.Reload(connectors(t, `
  - name: default
    bindings: ["127.0.0.1:0"]
    tls: {cert_file: /nonexistent.crt, key_file: /nonexistent.key}
`), testTable()); err == nil {
		t.Fatal("a reload with a missing certificate succeeded")
	}
	if c, err := net.Dial("tcp", extra); err != nil {
		t.Fatalf("a failed reload closed a binding: %v", err)
	} else {
		c.Close()
	}

	// Removing a connector closes its binding.
	if err := s.Reload(connectors(t, fmt.Sprintf("  - name: default\n    bindings: [%q]\n    permissions: {anonymous: [submit]}\n", main)), testTable()); err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", extra, time.Second); err == nil {
		c.Close()
		t.Fatal("a removed binding still accepts")
	}
}
