package smtp

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// A session tells its story in the log as Postfix's maillog does:
// connect, TLS with version and cipher, each message with its HELO, TLS
// and SASL user, and disconnect with the message count.
func TestConnectionLogLines(t *testing.T) {
	cert, key, pool := testCert(t)
	creds := credsFile(t)
	conns := connectors(t, fmt.Sprintf(`
  - name: secure
    bindings: ["127.0.0.1:0"]
    tls: {cert_file: %q, key_file: %q, required: true}
    auth: {mechanisms: [PLAIN], credentials_file: %q}
    permissions: {anonymous: [submit], authenticated: [submit, relay]}
`, cert, key, creds))
	var buf syncBuffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: conns, Routing: testTable(), Queue: &fakeQueue{}, Log: log})
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
	d.cmd("EHLO client.example", "250")
	d.startTLS(pool)
	d.cmd("EHLO client.example", "250")
	d.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "235")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<x@elsewhere.org>", "250")
	d.cmd("DATA", "354")
	d.cmd("Message-ID: <m1@example.org>\r\nSubject: x\r\n\r\nhi\r\n.", "250")
	d.cmd("QUIT", "221")
	want := []string{
		`msg=connect connector=secure client_ip=127.0.0.1 local=127.0.0.1:`,
		`msg="tls established" connector=secure client_ip=127.0.0.1 tls_version="TLS 1.3" tls_cipher=TLS_`,
		`msg="message accepted"`, `from=a@example.org nrcpt=1`, `helo=client.example`, `message_id=<m1@example.org>`,
		`sasl_user=alice`,
		`msg=disconnect connector=secure client_ip=127.0.0.1 messages=1 duration=`,
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		out := strings.Join(buf.lines(""), "\n")
		missing := ""
		for _, w := range want {
			if !strings.Contains(out, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			if strings.Contains(out, "secret") {
				t.Errorf("a credential reached the log:\n%s", out)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q:\n%s", missing, out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sessionObserver counts sessions opened and sessions ended by a limit.
type sessionObserver struct {
	rejectObserver
	sessions int
}

func (o *sessionObserver) Session(string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sessions++
}

func (o *sessionObserver) opened() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.sessions
}

// A session ended before EHLO is counted and logged exactly as one ended
// after it: by the error, line length or junk command limit (opened,
// refused with its reason, connect, "session ended", disconnect), and
// one the client leaves (opened, connect, disconnect); one it lets idle
// out logs its end and the 421 it got too ("session ended", reason idle
// timeout: front38 F3), but is no refusal (not counted).
func TestSessionEndedBeforeEHLOCountedAndLogged(t *testing.T) {
	obs := &sessionObserver{rejectObserver: rejectObserver{why: map[string]int{}}}
	var buf syncBuffer
	s := startWith(t, ServerConfig{Observer: obs, Log: slog.New(slog.NewTextHandler(&buf, nil)), Connectors: connectors(t, `
  - name: front
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {max_errors: 3, max_junk_commands: 5, max_line_length: 1000, idle_timeout: 1s}
`)})
	for i, c := range []struct{ greet, send, reply, why string }{
		{"", "FOO\r\nFOO\r\nFOO\r\nFOO\r\n", "421 4.7.0 Too many errors", "error limit"},
		{"", "NOOP " + strings.Repeat("A", 3000) + "\r\n", "421 4.7.0 Line too long", "line length"},
		{"", strings.Repeat("NOOP\r\n", 7), "421 4.7.0 Too many commands", "junk command limit"},
		{"EHLO c\r\n", "FOO\r\nFOO\r\nFOO\r\nFOO\r\n", "421 4.7.0 Too many errors", "error limit"},
		{"", "", "421 4.4.2", ""}, // idle timeout before EHLO
	} {
		d := dial(t, s, "")
		d.expect("220")
		if c.greet != "" {
			d.cmd("EHLO c", "250")
		}
		d.send(c.send)
		for {
			r := d.reply()
			if strings.HasPrefix(r, c.reply) {
				break
			}
			if strings.HasPrefix(r, "EOF") || r == "" {
				t.Fatalf("case %d: no %q before the end", i, c.reply)
			}
		}
		d.conn.Close()
		if c.why != "" && obs.count(c.why) == 0 {
			t.Errorf("case %d: %q not counted as refused", i, c.why)
		}
	}
	// The client that vanishes before EHLO.
	d := dial(t, s, "")
	d.expect("220")
	d.conn.Close()
	if obs.count("error limit") != 2 || obs.count("line length") != 1 || obs.count("junk command limit") != 1 {
		t.Errorf("refusals counted: %v", obs.why)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, ended, disc := len(buf.lines("msg=connect connector=front")), len(buf.lines(`msg="session ended" connector=front`)), len(buf.lines("msg=disconnect connector=front"))
		if obs.opened() == 6 && conn == 6 && ended == 5 && disc == 6 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("sessions %d (want 6), connect lines %d (6), session ended %d (5), disconnect %d (6):\n%s",
				obs.opened(), conn, ended, disc, strings.Join(buf.lines(""), "\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
