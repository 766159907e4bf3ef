package smtp

import (
	"fmt"
	"strings"
	"testing"
)

// The body a session queues is the trace header followed by the
// dot-unstuffed DATA, byte for byte, whatever its size against the
// session's buffer (sized once the verb layer hands the body over):
// empty, a line, around bytes.MinRead, 4 KiB, past the former 16 KiB
// preallocation.
func TestDataBodyExactAcrossBufferSizes(t *testing.T) {
	const big = `
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {max_message_size: 1000000}
`
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, big)...)
	sizes := []int{0, 1, 500, 511, 512, 513, 4 << 10, 16<<10 - 1, 16 << 10, 16<<10 + 1, 100 << 10}
	var want []string
	for _, n := range sizes {
		var b strings.Builder
		fmt.Fprintf(&b, "Subject: %d\r\n\r\n", n)
		for line := 0; b.Len() < n; line++ {
			fmt.Fprintf(&b, ".%d %s\r\n", line, strings.Repeat("x", line%70))
		}
		content := b.String()
		d := dial(t, s, "")
		d.expect("220")
		d.cmd("EHLO client.example", "250")
		d.cmd("MAIL FROM:<a@example.org>", "250")
		d.cmd("RCPT TO:<b@example.test>", "250")
		d.cmd("DATA", "354")
		d.cmd(content+".", "250 2.0.0")
		d.cmd("QUIT", "221")
		// What arrives: every line's leading dot removed.
		want = append(want, strings.ReplaceAll("\r\n"+content, "\r\n.", "\r\n")[2:])
	}
	if q.count() != len(sizes) {
		t.Fatalf("%d of %d messages queued", q.count(), len(sizes))
	}
	for k, body := range q.bodies {
		b := string(body)
		if !strings.HasPrefix(b, "Received: from client.example") {
			t.Fatalf("size %d: no trace header first: %.80q", sizes[k], b)
		}
		i := strings.Index(b, "Subject: ")
		if i < 0 || b[i:] != want[k] {
			t.Fatalf("size %d: body differs (%d bytes after the trace, want %d)", sizes[k], len(b)-i, len(want[k]))
		}
	}
}
