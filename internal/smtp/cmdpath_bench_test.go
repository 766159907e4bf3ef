package smtp

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"umbra/internal/config"
)

// BenchmarkCommandPath: the commands of one small message over a kept
// session, through the whole receive stack (the verb layer, go-smtp,
// the session): EHLO, MAIL, two RCPTs, DATA with a one-line body, NOOP,
// RSET, one round trip each. It measures the per-command work the
// body's size would hide (allocs/op is the figure to compare).
func BenchmarkCommandPath(b *testing.B) {
	cfg, err := config.Parse([]byte(`server: {name: mx.test}
receive_connectors:
  - name: bench
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
`), "bench.yaml")
	if err != nil {
		b.Fatal(err)
	}
	s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: cfg.ReceiveConnectors, Routing: testTable(), Queue: &discardQueue{}})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		b.Fatal(err)
	}
	s.Serve()
	defer func() { ctx, cancel := contextWithTimeout(5 * time.Second); defer cancel(); s.Shutdown(ctx) }()
	c, err := net.Dial("tcp", s.Addrs()[0].String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	say := func(line, want string) {
		if line != "" {
			if _, err := c.Write([]byte(line)); err != nil {
				b.Fatal(err)
			}
		}
		for {
			got, err := r.ReadString('\n')
			if err != nil || !strings.HasPrefix(got, want) {
				b.Fatalf("%q: reply %q (%v), want %s", line, got, err, want)
			}
			if got[3] == ' ' {
				return
			}
		}
	}
	say("", "220")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		say("EHLO bench.example.org\r\n", "250")
		say("MAIL FROM:<a@example.org> SIZE=40\r\n", "250")
		say("RCPT TO:<b@example.test>\r\n", "250")
		say("RCPT TO:<c@example.test>\r\n", "250")
		say("DATA\r\n", "354")
		say("Subject: bench\r\n\r\nhello\r\n.\r\n", "250")
		say("NOOP\r\n", "250")
		say("RSET\r\n", "250")
	}
}
