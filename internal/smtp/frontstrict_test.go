package smtp

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/config"
)

// startTLSWithChecks is startWithChecks on a connector offering STARTTLS.
func startTLSWithChecks(t *testing.T, checks ...Check) *Server {
	t.Helper()
	certFile, keyFile, _ := testCert(t)
	conns := connectors(t, fmt.Sprintf(`
  - name: internet
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    tls: {cert_file: %s, key_file: %s}
`, certFile, keyFile))
	s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: conns, Routing: testTable(), Queue: &fakeQueue{},
		Checks: func(config.ReceiveConnector) ([]Check, error) { return checks, nil }})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	s.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s
}

// rt19 fixc F5 (RFC 5321 §3.1, §4.1.1.5, §4.1.1.10; RFC 3207 §4): a
// client refused at its greeting gets 503 to STARTTLS, never a TLS
// handshake; STARTTLS before EHLO is 503 5.5.1; RSET and QUIT take no
// argument (501 5.5.4).
func TestFrontDoorStrictness(t *testing.T) {
	refused := startTLSWithChecks(t, &scripted{connect: checkRefuse(554, gosmtp.EnhancedCode{5, 7, 1}, "listed")})
	d := dial(t, refused, "")
	d.expect("220")
	d.cmd("STARTTLS", "503 5.5.1")
	d.cmd("EHLO client.test", "554 5.7.1 listed")
	d.cmd("STARTTLS", "503 5.5.1 This connection was refused (554 5.7.1)")
	d.cmd("EHLO client.test", "503 5.5.1 This connection was refused (554 5.7.1)") // only QUIT now
	d.cmd("QUIT", "221")

	s := startTLSWithChecks(t)
	d = dial(t, s, "")
	d.expect("220")
	d.cmd("RSET x", "501 5.5.4")
	d.cmd("QUIT now", "501 5.5.4")
	d.cmd("EHLO client.test", "250")
	d.cmd("RSET", "250")
	d.cmd("RSET x", "501 5.5.4")
	d.cmd("QUIT x", "501 5.5.4")
	d.cmd("QUIT", "221")
}

// rt19 fixg F2 (SMTP-1, RFC 5321 §4.1.1: a receiver SHOULD tolerate
// trailing white space): spaces and tabs after a command without
// arguments are none — "NOOP " is NOOP, not 501 5.5.2 with the session
// left as it was — while an argument is still refused.
func TestTrailingWhiteSpaceTolerated(t *testing.T) {
	s := startTLSWithChecks(t)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO client.test ", "250")
	for _, line := range []string{"NOOP ", "NOOP\t", "NOOP  \t ", "noop ", "RSET ", "RSET\t", "HELO client.test\t"} {
		d.cmd(line, "250")
	}
	d.cmd("RSET x ", "501 5.5.4 RSET takes no argument")
	d.cmd("QUIT x\t", "501 5.5.4 QUIT takes no argument")
	d.cmd("NOOP\tx", "500 5.5.1")
	d.cmd("EHLO client.test", "250")
	d.cmd("MAIL FROM:<a@example.org> ", "250")
	d.cmd("RCPT TO:<b@example.test>\t", "250")
	d.cmd("DATA ", "354")
	d.cmd("Subject: t\r\n\r\nbody\r\n.", "250")
	d.cmd("VRFY b@example.test ", "252")
	d.cmd("VRFY ", "501 5.5.4 Syntax: VRFY") // blanks alone are no argument
	d.cmd("HELP ", "502 5.5.1 HELP command not implemented")
	// BDAT too (rt23b F1): blanks before the CRLF are no part of the
	// size or of LAST, and the chunk is read after the CRLF as ever.
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.send("BDAT 4 \r\nSubj")
	d.expect("250")
	d.send("BDAT 14 LAST\t \r\nect: t\r\n\r\nhi\r\n")
	d.expect("250")
	d.cmd("BDAT 3x ", "503 5.5.1")
	d.send("STARTTLS \r\n")
	d.expect("220")
	// The handshake is what is checked, not the server's certificate.
	tc := tls.Client(d.conn, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	d.conn, d.r = tc, bufio.NewReader(tc)
	d.cmd("EHLO client.test", "250")
	d.cmd("QUIT ", "221")
	if got := d.reply(); !strings.HasPrefix(got, "EOF") {
		t.Errorf("after QUIT: %q", got)
	}
}
