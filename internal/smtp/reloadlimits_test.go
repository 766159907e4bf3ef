package smtp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/clock"
	"umbra/internal/config"
)

// freeAddr is a loopback address with a port free a moment ago, for a
// connector that a reload must find at the same binding.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// limitsConf is a connector at addr with the given limits (YAML flow).
func limitsConf(addr, limits string) string {
	return fmt.Sprintf(`
  - name: default
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    permissions: {anonymous: [submit]}
    limits: {%s}
`, addr, limits)
}

// SMTP-8, SMTP-2: a reload that lowers max_junk_commands holds the
// sessions open at it from their next command: a session already past
// the new limit ends there, as a new one would after as many commands.
func TestSMTP8ReloadLowersJunkLimitOfOpenSessions(t *testing.T) {
	addr := freeAddr(t)
	s := startServer(t, &fakeQueue{}, connectors(t, limitsConf(addr, "max_junk_commands: 100"))...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	for range 4 {
		d.cmd("NOOP", "250")
	}
	if err := s.Reload(connectors(t, limitsConf(addr, "max_junk_commands: 3")), testTable()); err != nil {
		t.Fatal(err)
	}
	d.cmd("NOOP", "421 4.7.0 Too many commands")
	if got := d.reply(); !strings.HasPrefix(got, "EOF") {
		t.Fatalf("session goes on: %q", got)
	}
}

// SMTP-8: the same for max_errors: the errors counted before the reload
// count against the lowered limit at the next command.
func TestSMTP8ReloadLowersErrorLimitOfOpenSessions(t *testing.T) {
	addr := freeAddr(t)
	s := startServer(t, &fakeQueue{}, connectors(t, limitsConf(addr, "max_errors: 100, max_junk_commands: 100"))...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	for range 3 {
		d.cmd("FOO", "500")
	}
	if err := s.Reload(connectors(t, limitsConf(addr, "max_errors: 2, max_junk_commands: 100")), testTable()); err != nil {
		t.Fatal(err)
	}
	d.cmd("NOOP", "421 4.7.0 Too many errors")
}

// SMTP-2: max_transaction_time lowered by a reload bounds the
// transaction open at it (by the session clock) from its next command.
func TestSMTP2ReloadLowersTransactionTimeOfOpenSessions(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC))
	addr := freeAddr(t)
	s := startServerClock(t, clk, &fakeQueue{}, limitsConf(addr, "max_transaction_time: 1h"))
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	clk.Advance(6 * time.Minute)
	d.cmd("RCPT TO:<c@example.test>", "250") // within the hour
	if err := s.Reload(connectors(t, limitsConf(addr, "max_transaction_time: 5m")), testTable()); err != nil {
		t.Fatal(err)
	}
	d.cmd("RCPT TO:<d@example.test>", "421 4.4.2 Mail transaction took too long")
}

// SMTP-2: idle_timeout lowered by a reload is the read deadline of the
// open session's next command: a client silent past it is cut off with
// the idle reply (the wait is bounded by the test's read deadline, not
// measured).
func TestSMTP2ReloadLowersIdleTimeoutOfOpenSessions(t *testing.T) {
	addr := freeAddr(t)
	s := startServer(t, &fakeQueue{}, connectors(t, limitsConf(addr, "idle_timeout: 1h"))...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	if err := s.Reload(connectors(t, limitsConf(addr, "idle_timeout: 1s")), testTable()); err != nil {
		t.Fatal(err)
	}
	d.cmd("NOOP", "250") // the deadline of the next line is the new one
	d.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	if got := d.reply(); !strings.HasPrefix(got, "421 4.4.2 Idle timeout") {
		t.Fatalf("a silent session under the reloaded idle_timeout: got %q", got)
	}
}

// SMTP-2: an EHLO after a reload that lowered max_message_size and
// max_recipients announces the limits that now hold the session
// (SIZE, LIMITS RCPTMAX); raised ones are not announced (go-smtp holds
// the session to those it began with).
func TestSMTP2EHLOAfterReloadAnnouncesLoweredLimits(t *testing.T) {
	addr := freeAddr(t)
	s := startServer(t, &fakeQueue{}, connectors(t, limitsConf(addr, "max_message_size: 10MiB, max_recipients: 50"))...)
	d := dial(t, s, "")
	d.expect("220")
	if ehlo := d.cmd("EHLO c", "250"); !strings.Contains(ehlo, "SIZE 10485760") || !strings.Contains(ehlo, "RCPTMAX=50") {
		t.Fatalf("before the reload:\n%s", ehlo)
	}
	if err := s.Reload(connectors(t, limitsConf(addr, "max_message_size: 1MiB, max_recipients: 5")), testTable()); err != nil {
		t.Fatal(err)
	}
	if ehlo := d.cmd("EHLO c", "250"); !hasLine(ehlo, "SIZE 1048576") || !hasLine(ehlo, "LIMITS RCPTMAX=5") {
		t.Fatalf("after a reload that lowered them:\n%s", ehlo)
	}
	if err := s.Reload(connectors(t, limitsConf(addr, "max_message_size: 100MiB, max_recipients: 500")), testTable()); err != nil {
		t.Fatal(err)
	}
	if ehlo := d.cmd("EHLO c", "250"); !strings.Contains(ehlo, "SIZE 10485760") || !strings.Contains(ehlo, "RCPTMAX=50") {
		t.Fatalf("after a reload that raised them:\n%s", ehlo)
	}
}

// hasLine: the multi-line reply has a line whose text after the code is text.
func hasLine(reply, text string) bool {
	for _, l := range strings.Split(reply, "\n") {
		if len(l) > 4 && strings.TrimRight(l[4:], "\r") == text {
			return true
		}
	}
	return false
}

// mailRefuser refuses every MAIL (a stateless MAIL-stage check).
type mailRefuser struct{}

func (mailRefuser) Name() string { return "refuser" }
func (mailRefuser) Mail(context.Context, *ConnInfo, string, *gosmtp.MailOptions) Verdict {
	return Verdict{Reply: &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1}, Message: "refused by the reloaded check"}}
}

// sessionCounter is a check with per-session state whose sessions
// count the MAILs they see and record their closing.
type sessionCounter struct {
	mu     sync.Mutex
	mails  int
	closed int
}

func (c *sessionCounter) Name() string { return "counter" }
func (c *sessionCounter) Open(context.Context, *ConnInfo) CheckSession {
	return &counterSession{c}
}

type counterSession struct{ c *sessionCounter }

func (s *counterSession) Name() string { return "counter" }
func (s *counterSession) Mail(context.Context, *ConnInfo, string, *gosmtp.MailOptions) Verdict {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	s.c.mails++
	return Verdict{}
}
func (s *counterSession) Reset() {}
func (s *counterSession) Close() {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	s.c.closed++
}

// EDGE-1, SMTP-2: the checks of a receive connector as a reload builds
// them judge the sessions open at it from their next MAIL: a check the
// reload adds refuses there as on a new connection; a check with
// per-session state (a milter) that the reload removes is closed and
// asked no more.
func TestSMTP2ReloadChecksApplyToOpenSessions(t *testing.T) {
	addr := freeAddr(t)
	counter := &sessionCounter{}
	s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: connectors(t, limitsConf(addr, "max_junk_commands: 100")), Routing: testTable(), Queue: &fakeQueue{},
		Checks: func(rc config.ReceiveConnector) ([]Check, error) {
			if rc.Banner == "strict" {
				return []Check{mailRefuser{}}, nil
			}
			return []Check{counter}, nil
		}})
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
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RSET", "250")
	strict := strings.Replace(limitsConf(addr, "max_junk_commands: 100"), "    permissions:", "    banner: strict\n    permissions:", 1)
	if err := s.Reload(connectors(t, strict), testTable()); err != nil {
		t.Fatal(err)
	}
	d.cmd("MAIL FROM:<a@example.org>", "550 5.7.1 refused by the reloaded check")
	counter.mu.Lock()
	defer counter.mu.Unlock()
	if counter.mails != 1 || counter.closed != 1 {
		t.Fatalf("the removed session check: %d MAILs seen (want 1, before the reload), closed %d times (want 1)", counter.mails, counter.closed)
	}
}

// SMTP-2: a certificate a reload installs serves the next STARTTLS
// handshake, on a connection opened before the reload too (an expiring
// certificate replaced is not served on for as long as a session lasts).
func TestSMTP2ReloadCertificateServesNextSTARTTLS(t *testing.T) {
	addr := freeAddr(t)
	oldCert, oldKey, oldPool := testCert(t)
	newCert, newKey, newPool := testCert(t)
	conf := func(cert, key string) string {
		return fmt.Sprintf(`
  - name: default
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    tls: {cert_file: %q, key_file: %q}
    permissions: {anonymous: [submit]}
`, addr, cert, key)
	}
	s := startServer(t, &fakeQueue{}, connectors(t, conf(oldCert, oldKey))...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	if err := s.Reload(connectors(t, conf(newCert, newKey)), testTable()); err != nil {
		t.Fatal(err)
	}
	d.cmd("STARTTLS", "220")
	tc := tls.Client(d.conn, &tls.Config{RootCAs: newPool, ServerName: "mx.test"})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("the handshake after the reload is not made with the reloaded certificate: %v", err)
	}
	if _, err := tc.ConnectionState().PeerCertificates[0].Verify(x509.VerifyOptions{Roots: oldPool, DNSName: "mx.test"}); err == nil {
		t.Fatal("the old certificate was served")
	}
}

// heloRefuser refuses every greeting (a stateless HELO-stage check).
type heloRefuser struct{}

func (heloRefuser) Name() string { return "helo-refuser" }
func (heloRefuser) Helo(context.Context, *ConnInfo, string) Verdict {
	return Verdict{Reply: &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1}, Message: "greeting refused by the reloaded check"}}
}

// EDGE-1, SMTP-2: a connection accepted before a reload and greeting
// after it is made a session with the checks in force at its greeting,
// not those of the moment it connected: a greeting check the reload
// added judges its EHLO.
func TestSMTP2ReloadBeforeGreetingTakesNewChecks(t *testing.T) {
	addr := freeAddr(t)
	s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: connectors(t, limitsConf(addr, "max_junk_commands: 100")), Routing: testTable(), Queue: &fakeQueue{},
		Checks: func(rc config.ReceiveConnector) ([]Check, error) {
			if rc.Banner == "strict" {
				return []Check{heloRefuser{}}, nil
			}
			return nil, nil
		}})
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
	d := dial(t, s, "")
	d.expect("220")
	strict := strings.Replace(limitsConf(addr, "max_junk_commands: 100"), "    permissions:", "    banner: strict\n    permissions:", 1)
	if err := s.Reload(connectors(t, strict), testTable()); err != nil {
		t.Fatal(err)
	}
	d.cmd("EHLO c", "550 5.7.1 greeting refused by the reloaded check")
}

// SR-9, SMTP-2: max_acknowledgement_delay as a reload sets it holds the
// next message of a session open at the reload: lowered, the waiting
// sender gets its 250 after the new delay, not the old one.
func TestSR9ReloadLowersAcknowledgementDelayOfOpenSessions(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC))
	q := &heldQueue{gone: make(chan struct{})}
	addr := freeAddr(t)
	conf := func(delay string) []config.ReceiveConnector {
		return connectors(t, fmt.Sprintf(`
  - name: edge
    bindings: [%q]
    permissions: {anonymous: [submit]}
    max_acknowledgement_delay: %s
`, addr, delay))
	}
	s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: conf("5m"), Routing: testTable(), Queue: q,
		Shadow: &fakeShadow{notes: map[string][]string{}}, ShadowEnabled: true, Clock: clk})
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
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	if err := s.Reload(conf("30s"), testTable()); err != nil {
		t.Fatal(err)
	}
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.cmd("DATA", "354")
	d.send("Subject: x\r\n\r\nwait\r\n.\r\n")
	waitTimer(t, clk, 1)
	clk.Advance(30 * time.Second)
	d.expect("250 2.0.0 Ok: queued as ")
}
