package smtp

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// SMTP-5 (README: "mail umbra received never has one (it puts the
// empty line there)"): a message that is a header section alone — no
// empty line, no body — is stored with the empty line after its last
// field, by DATA and by BDAT, in memory and spooled: the DKIM signer
// (which refuses a message without the header/body separator: "message
// sent unsigned") and every next hop read the header section umbra
// read. A message whose section already ends with the empty line is
// stored as sent.
func TestHeaderOnlyMessageGetsEmptyLine(t *testing.T) {
	st, _ := spoolStore(t)
	head := "From: a@example.org\r\nTo: b@example.test\r\nSubject: nosep " + strings.Repeat("p", 80) + "\r\n" // past the spool threshold
	for i, threshold := range []int64{0, 64} {
		conns := connectors(t, fmt.Sprintf(`
  - name: in
    bindings: ["127.0.0.125:%d"]
    permissions: {anonymous: [submit]}
`, 39411+i))
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
		for _, c := range []struct{ sent, want string }{
			{head, head + "\r\n"},
			{head + "\r\n", head + "\r\n"},
			{head + "\r\nbody\r\n", head + "\r\nbody\r\n"},
		} {
			d.cmd("MAIL FROM:<a@example.org>", "250")
			d.cmd("RCPT TO:<b@example.test>", "250")
			d.cmd("DATA", "354")
			d.cmd(c.sent+".", "250")
			if got := last(); got != c.want {
				t.Errorf("threshold %d: DATA %q stored %q, want %q", threshold, c.sent, got, c.want)
			}
			d.cmd("MAIL FROM:<a@example.org>", "250")
			d.cmd("RCPT TO:<b@example.test>", "250")
			d.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(c.sent), c.sent))
			d.expect("250")
			if got := last(); got != c.want {
				t.Errorf("threshold %d: BDAT %q stored %q, want %q", threshold, c.sent, got, c.want)
			}
		}
		// BDAT's last bytes need not end a line: the last field gets its
		// CRLF, then the empty line.
		open := strings.TrimSuffix(head, "\r\n")
		d.cmd("MAIL FROM:<a@example.org>", "250")
		d.cmd("RCPT TO:<b@example.test>", "250")
		d.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(open), open))
		d.expect("250")
		if got := last(); got != head+"\r\n" {
			t.Errorf("threshold %d: BDAT %q stored %q, want %q", threshold, open, got, head+"\r\n")
		}
	}
}
