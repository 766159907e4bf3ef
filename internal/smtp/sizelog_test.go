package smtp

import (
	"log/slog"
	"strings"
	"testing"
)

// SMTP-3, OPS-4 (README: "Every refusal is logged … its INFO line names
// the reply given beside the reason"; frontrt35 F2): a MAIL refused for
// its declared SIZE, a message refused over max_message_size by DATA or
// by BDAT, and a BDAT message refused for a line over max_line_length
// are each logged through the refusal log, with the reply's codes and
// a reason of the README's table.
func TestSMTP3SizeAndFormRefusalsAreLogged(t *testing.T) {
	var logs lockedBuf
	s := startWith(t, ServerConfig{Log: slog.New(slog.NewTextHandler(&logs, nil)), Connectors: connectors(t, `
  - name: internet
    bindings: ["127.0.0.150:7502"]
    permissions: {anonymous: [submit]}
    limits: {max_message_size: 10000, max_line_length: 1000, max_errors: 50, soft_error_limit: 50}
`)})
	d := dial(t, s, "127.0.0.150")
	d.expect("220")
	d.cmd("EHLO c.test", "250")
	d.cmd("MAIL FROM:<x@ext.test> SIZE=20000", "552 5.3.4")
	d.cmd("MAIL FROM:<x@ext.test>", "250")
	d.cmd("RCPT TO:<u@example.test>", "250")
	big := strings.Repeat(strings.Repeat("a", 998)+"\r\n", 16)
	d.send("BDAT " + itoa(uint64(len(big))) + " LAST\r\n" + big)
	d.expect("552 5.3.4")
	d.cmd("MAIL FROM:<x@ext.test>", "250")
	d.cmd("RCPT TO:<u@example.test>", "250")
	d.cmd("DATA", "354")
	d.send(big + ".\r\n")
	d.expect("552 5.3.4")
	d.cmd("MAIL FROM:<x@ext.test>", "250")
	d.cmd("RCPT TO:<u@example.test>", "250")
	long := "Subject: t\r\n\r\n" + strings.Repeat("b", 1500) + "\r\n"
	d.send("BDAT " + itoa(uint64(len(long))) + " LAST\r\n" + long)
	d.expect("554 5.6.0")
	d.cmd("QUIT", "221")
	d.closed()
	s.Shutdown(t.Context())
	var lines []string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "refused") || strings.Contains(l, "rejected") {
			lines = append(lines, l)
		}
	}
	count := func(msg, tail string) int {
		n := 0
		for _, l := range lines {
			if strings.Contains(l, `msg="`+msg+`"`) && strings.Contains(l, tail) {
				n++
			}
		}
		return n
	}
	for _, c := range []struct {
		msg, tail string
		n         int
	}{
		{"sender refused", "reason=declared_size_too_large code=552 enhanced_code=5.3.4", 1},
		{"message rejected", "reason=message_too_large code=552 enhanced_code=5.3.4", 2}, // BDAT and DATA
		{"message rejected", "reason=line_too_long code=554 enhanced_code=5.6.0", 1},
	} {
		if got := count(c.msg, c.tail); got != c.n {
			t.Errorf("%d lines %q with %q, want %d; refusals logged:\n%s", got, c.msg, c.tail, c.n, strings.Join(lines, "\n"))
		}
	}
}
