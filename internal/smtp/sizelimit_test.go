package smtp

import (
	"fmt"
	"strings"
	"testing"
)

// sizedMessage is a message of exactly n bytes (as sent, before
// dot-stuffing), a header field, an empty line and lines of at most 80
// bytes, every third body line starting with a dot (stuffed on the wire).
func sizedMessage(n int) string {
	var b strings.Builder
	b.WriteString("Subject: size\r\n\r\n")
	n -= b.Len()
	for i := 0; n > 0; i++ {
		k := min(80, n-2)
		if n-(k+2) == 1 { // never leave a 1-byte rest
			k--
		}
		line := strings.Repeat("x", k)
		if i%3 == 0 && k > 0 {
			line = "." + line[1:]
		}
		b.WriteString(line + "\r\n")
		n -= k + 2
	}
	return b.String()
}

// dotStuff stuffs a message for DATA (RFC 5321 §4.5.2).
func dotStuff(msg string) string {
	lines := strings.SplitAfter(msg, "\r\n")
	for i, l := range lines {
		if strings.HasPrefix(l, ".") {
			lines[i] = "." + l
		}
	}
	return strings.Join(lines, "")
}

// max_message_size is inclusive (RFC 1870 §4: SIZE is the largest
// message the server accepts): a message of exactly that many bytes, as
// sent and before the Received field umbra adds, is taken, one byte more
// is refused with 552 5.3.4 — by DATA (dot-stuffing not counted) and by
// BDAT, in memory and spooled, and a MAIL SIZE= of the limit is taken,
// one more refused.
func TestMessageSizeLimitInclusive(t *testing.T) {
	const limit = 6000
	conns := connectors(t, fmt.Sprintf(`
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {max_message_size: %d}
`, limit))
	st, _ := spoolStore(t)
	for _, spool := range []bool{false, true} {
		q := &bodyQueue{}
		var s *Server
		if spool {
			s = startSpoolServer(t, q, st, 1024, 0, conns...)
		} else {
			s = startServer(t, q, conns...)
		}
		d := dial(t, s, "")
		d.expect("220")
		if got := d.cmd("EHLO c", "250"); !strings.Contains(got, fmt.Sprintf("SIZE %d", limit)) {
			t.Fatalf("EHLO does not advertise SIZE %d:\n%s", limit, got)
		}
		accepted := 0
		for _, c := range []struct {
			size int
			want string
		}{{limit - 1, "250"}, {limit, "250"}, {limit + 1, "552 5.3.4"}, {2 * limit, "552 5.3.4"}} {
			msg := sizedMessage(c.size)
			if len(msg) != c.size {
				t.Fatalf("sizedMessage(%d) made %d bytes", c.size, len(msg))
			}
			name := fmt.Sprintf("spooled=%v size=%d", spool, c.size)
			// MAIL SIZE= declares the same size.
			wantMail := "250"
			if c.size > limit {
				wantMail = "552 5.3.4"
			}
			d.cmd(fmt.Sprintf("MAIL FROM:<a@example.org> SIZE=%d", c.size), wantMail)
			if wantMail != "250" {
				d.cmd("MAIL FROM:<a@example.org>", "250")
			}
			d.cmd("RCPT TO:<b@example.test>", "250")
			d.cmd("DATA", "354")
			d.send(dotStuff(msg) + ".\r\n")
			if got := d.reply(); !strings.HasPrefix(got, c.want) {
				t.Errorf("%s DATA: got %q, want %q", name, got, c.want)
			}
			// BDAT in two chunks, the cut inside the message.
			d.cmd("MAIL FROM:<a@example.org>", "250")
			d.cmd("RCPT TO:<b@example.test>", "250")
			half := len(msg) / 2
			d.send(fmt.Sprintf("BDAT %d\r\n%s", half, msg[:half]))
			d.expect("250")
			d.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(msg)-half, msg[half:]))
			if got := d.reply(); !strings.HasPrefix(got, c.want) {
				t.Errorf("%s BDAT: got %q, want %q", name, got, c.want)
			}
			if c.want == "250" {
				accepted += 2
				// Stored as sent, behind umbra's Received field.
				q.mu.Lock()
				for _, b := range q.bodies[len(q.bodies)-2:] {
					if !strings.HasSuffix(string(b), "\r\n"+msg) {
						t.Errorf("%s: stored body is not the message as sent", name)
					}
				}
				q.mu.Unlock()
			}
		}
		// A message of dot lines only, exactly at the limit: stuffed it
		// is a third longer on the wire, and still taken.
		dots := "Subject: d\r\n\r\n"
		dots += strings.Repeat("x", (limit-len(dots))%3) + strings.Repeat(".\r\n", (limit-len(dots))/3)
		if len(dots) != limit {
			t.Fatalf("dot message of %d bytes", len(dots))
		}
		d.cmd("MAIL FROM:<a@example.org>", "250")
		d.cmd("RCPT TO:<b@example.test>", "250")
		d.cmd("DATA", "354")
		d.send(dotStuff(dots) + ".\r\n")
		d.expect("250")
		accepted++
		if q.count() != accepted {
			t.Errorf("spooled=%v: %d messages queued, want %d", spool, q.count(), accepted)
		}
	}
}

// BDAT is held to max_line_length as DATA is (RFC 5321 §4.5.3.1.6; BDAT
// without BINARYMIME carries text, RFC 3030 §3): a line of the limit
// (CRLF included) is taken, one byte longer is refused with 554 5.6.0 at
// BDAT LAST, whatever the chunks' cuts, after all chunks were read; in
// memory and spooled, with no spool file left; the session goes on.
func TestBDATLineLengthAsDATA(t *testing.T) {
	const maxLine = 1000
	conns := connectors(t, fmt.Sprintf(`
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {max_line_length: %d, max_message_size: 1MiB}
`, maxLine))
	st, dir := spoolStore(t)
	for _, spool := range []bool{false, true} {
		q := &bodyQueue{}
		var s *Server
		if spool {
			s = startSpoolServer(t, q, st, 1024, 0, conns...)
		} else {
			s = startServer(t, q, conns...)
		}
		d := dial(t, s, "")
		d.expect("220")
		d.cmd("EHLO c", "250")
		filler := strings.Repeat("body line\r\n", 300) // past the spool threshold
		accepted := 0
		for _, c := range []struct {
			line int // the long line's length, CRLF included
			want string
		}{{maxLine, "250"}, {maxLine + 1, "554 5.6.0"}, {5000, "554 5.6.0"}} {
			msg := "Subject: long\r\n\r\n" + filler + strings.Repeat("l", c.line-2) + "\r\n" + filler
			for _, cut := range []int{len(msg), 61, len(msg) / 2, len(filler) + 17 + 500} {
				name := fmt.Sprintf("spooled=%v line=%d cut=%d", spool, c.line, cut)
				// DATA first: the rule BDAT must follow.
				d.cmd("MAIL FROM:<a@example.org>", "250")
				d.cmd("RCPT TO:<b@example.test>", "250")
				d.cmd("DATA", "354")
				d.send(msg + ".\r\n")
				if got := d.reply(); !strings.HasPrefix(got, c.want) {
					t.Fatalf("%s DATA: got %q, want %q", name, got, c.want)
				}
				d.cmd("MAIL FROM:<a@example.org>", "250")
				d.cmd("RCPT TO:<b@example.test>", "250")
				for p := 0; p < len(msg); p += cut {
					chunk := msg[p:min(p+cut, len(msg))]
					if p+cut >= len(msg) {
						d.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(chunk), chunk))
						if got := d.reply(); !strings.HasPrefix(got, c.want) {
							t.Fatalf("%s BDAT: got %q, want %q", name, got, c.want)
						}
					} else {
						d.send(fmt.Sprintf("BDAT %d\r\n%s", len(chunk), chunk))
						d.expect("250")
					}
				}
				if c.want == "250" {
					accepted += 2
				}
				d.cmd("NOOP", "250")
			}
		}
		if q.count() != accepted {
			t.Errorf("spooled=%v: %d queued, want %d", spool, q.count(), accepted)
		}
		if spool {
			if n := len(spoolFiles(t, dir)); n != accepted {
				t.Errorf("%d spool files for %d accepted messages", n, accepted)
			}
		}
	}
}
