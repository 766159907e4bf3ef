package smtp

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/config"
)

// nameCheck refuses EHLO/HELO names starting "bad-" (a name the
// greeting's own syntax check takes: helosyntax.go) and records every
// name it was asked about.
type nameCheck struct{ asked []string }

func (c *nameCheck) Name() string { return "helo-name" }
func (c *nameCheck) Helo(_ context.Context, _ *ConnInfo, name string) Verdict {
	c.asked = append(c.asked, name)
	if strings.HasPrefix(name, "bad-") {
		return checkRefuse(501, gosmtp.EnhancedCode{5, 5, 2}, "<"+name+">: HELO command rejected")
	}
	return Verdict{}
}

// rt31 F2: every EHLO and HELO of a session passes the HELO checks, not
// only the one that makes the session. A later greeting with a name the
// checks refuse gets their reply and changes nothing: the session keeps
// the name the checks took (in Received), and its transaction goes on.
func TestEveryGreetingIsChecked(t *testing.T) {
	for _, verb := range []string{"EHLO", "HELO"} {
		t.Run(verb, func(t *testing.T) {
			ck := &nameCheck{}
			q := &fakeQueue{}
			s := startWithChecks(t, q, ck)
			d := dial(t, s, "")
			d.expect("220")
			d.cmd(verb+" bad-a.b", "501 5.5.2 <bad-a.b>: HELO command rejected")
			d.cmd("EHLO good.example", "250")
			d.cmd("MAIL FROM:<a@sender.test>", "250")
			d.cmd(verb+" bad-name.example", "501 5.5.2 <bad-name.example>: HELO command rejected")
			d.cmd("RCPT TO:<u@example.test>", "250") // the transaction was not reset
			d.cmd("DATA", "354")
			d.cmd("Subject: x\r\n\r\nhello\r\n.", "250")
			d.cmd("RSET", "250")
			d.cmd(verb+" other.example", "250")
			d.cmd("MAIL FROM:<a@sender.test>", "250")
			d.cmd("RCPT TO:<u@example.test>", "250")
			d.cmd("DATA", "354")
			d.cmd("Subject: y\r\n\r\nhello\r\n.", "250")
			if q.count() != 2 {
				t.Fatalf("queued %d, want 2", q.count())
			}
			q.mu.Lock()
			first, second := string(q.bodies[0]), string(q.bodies[1])
			q.mu.Unlock()
			if !strings.HasPrefix(first, "Received: from good.example ") || strings.Contains(first, "bad-name") {
				t.Errorf("first message's trace names a name the checks refused:\n%.200s", first)
			}
			if !strings.HasPrefix(second, "Received: from other.example ") {
				t.Errorf("second message's trace:\n%.200s", second)
			}
			if got, want := strings.Join(ck.asked, " "), "bad-a.b good.example bad-name.example other.example"; got != want {
				t.Errorf("names checked %q, want %q", got, want)
			}
		})
	}
}

// After STARTTLS the client greets again (RFC 3207 §4.2): that name is
// checked too, and a refused one leaves the session to greet with
// another before anything else.
func TestGreetingAfterSTARTTLSIsChecked(t *testing.T) {
	certFile, keyFile, pool := testCert(t)
	ck := &nameCheck{}
	q := &fakeQueue{}
	s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: connectors(t, fmt.Sprintf(`
  - name: internet
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    tls: {cert_file: %q, key_file: %q}
`, certFile, keyFile)), Routing: testTable(), Queue: q,
		Checks: func(config.ReceiveConnector) ([]Check, error) { return []Check{ck}, nil }})
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
	d.cmd("EHLO good.example", "250")
	d.startTLS(pool)
	d.cmd("EHLO bad-name.example", "501 5.5.2 <bad-name.example>: HELO command rejected")
	d.cmd("MAIL FROM:<a@sender.test>", "503") // greet again first
	d.cmd("EHLO tls.example", "250")
	d.cmd("MAIL FROM:<a@sender.test>", "250")
	d.cmd("RCPT TO:<u@example.test>", "250")
	d.cmd("DATA", "354")
	d.cmd("Subject: x\r\n\r\nhello\r\n.", "250")
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.bodies) != 1 || !strings.HasPrefix(string(q.bodies[0]), "Received: from tls.example ") {
		t.Fatalf("queued %d; trace %.100q", len(q.bodies), q.bodies)
	}
}
