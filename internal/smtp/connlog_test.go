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
