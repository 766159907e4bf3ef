package smtp

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// rt50 note: under bare_newlines: normalize a DATA body is read as if each
// bare CR or LF had been a CRLF — except that only CRLF "." CRLF ends it —
// so a dot starting a line is transparency (RFC 5321 §4.5.2) however the
// line before it ended. Before, "a\n.\nX" kept a line "." while
// "a\r\n.\nX" lost its dot. Equivalent inputs are now stored alike, in
// memory and spooled; a BDAT body has no transparency and keeps its dots.
func TestNormalisedDotLinesConsistent(t *testing.T) {
	st, _ := spoolStore(t)
	conns := connectors(t, `
  - name: normalize
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    bare_newlines: normalize
`)
	pad := "Subject: " + strings.Repeat("p", 100) + "\r\n\r\n" // past the spool threshold
	groups := []struct {
		in   []string // raw DATA bodies, before the end marker
		want string
	}{
		{[]string{"a\n.\nX\r\n", "a\r\n.\nX\r\n", "a\n.\r\nX\r\n", "a\r.\rX\r\n", "a\r\n.\rX\r\n"}, "a\r\n\r\nX\r\n"},
		{[]string{"a\n..\nX\r\n", "a\r\n..\nX\r\n", "a\r\n..\r\nX\r\n", "a\r..\rX\r\n"}, "a\r\n.\r\nX\r\n"},
		{[]string{"a\n.b\nX\r\n", "a\r\n.b\r\nX\r\n", "a\r.b\r\nX\r\n"}, "a\r\nb\r\nX\r\n"},
	}
	for _, threshold := range []int64{0, 64} {
		q := &bodyQueue{}
		cfg := ServerConfig{Hostname: "mx.test", Connectors: conns, Routing: testTable(), Queue: q}
		if threshold > 0 {
			cfg.Spool, cfg.SpoolThreshold = st.NewSpool, threshold
		}
		s, err := NewServer(cfg)
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
		last := func() string {
			q.mu.Lock()
			defer q.mu.Unlock()
			return string(dropTrace(q.bodies[len(q.bodies)-1]))
		}
		for _, g := range groups {
			for _, in := range g.in {
				d.cmd("MAIL FROM:<a@example.org>", "250")
				d.cmd("RCPT TO:<b@example.test>", "250")
				d.cmd("DATA", "354")
				d.cmd(pad+in+".", "250")
				if got := last(); got != pad+g.want {
					t.Errorf("threshold %d: DATA %q stored %q, want %q", threshold, in, strings.TrimPrefix(got, pad), g.want)
				}
			}
		}
		body := pad + "a\n.\nX\r\n"
		d.cmd("MAIL FROM:<a@example.org>", "250")
		d.cmd("RCPT TO:<b@example.test>", "250")
		d.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(body), body))
		d.expect("250")
		if got := last(); got != pad+"a\r\n.\r\nX\r\n" {
			t.Errorf("threshold %d: BDAT stored %q", threshold, strings.TrimPrefix(got, pad))
		}
	}
}
