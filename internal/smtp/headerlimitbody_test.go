package smtp

import (
	"fmt"
	"strings"
	"testing"
)

// max_header_size is one limit on one thing: the header section with the
// empty line that ends it, as umbra stores it — the empty line umbra
// puts after a section sent without one (a message with no body, or a
// last line without its CRLF: sealHeadSection) counted as much as one
// the client sent. So header fields of max-2 bytes are taken and of
// max-1 refused (552 5.3.4), with a body or without, by DATA and by BDAT,
// in memory or spooled. Before, fields of max-1 bytes were refused with
// a body and taken without one (and stored as a section of max+1 bytes).
func TestHeaderLimitSameWithAndWithoutBody(t *testing.T) {
	const max = 8192
	st, _ := spoolStore(t)
	// fields is header fields of n bytes in all (the last one's CRLF
	// left off when crlf is false).
	fields := func(n int, crlf bool) string {
		field := "X-H: " + strings.Repeat("v", 90) + "\r\n" // 97 bytes
		k := (n - 200) / len(field)
		last := n - k*len(field) // 200 bytes or more
		s := strings.Repeat(field, k) + "X-L: " + strings.Repeat("w", last-7) + "\r\n"
		if !crlf {
			s = s[:len(s)-2]
		}
		return s
	}
	body := "\r\n" + strings.Repeat("body line\r\n", 300)
	for i, threshold := range []int64{1 << 30, 1024} {
		conns := connectors(t, fmt.Sprintf(`
  - name: default
    bindings: ["127.0.0.175:%d"]
    permissions: {anonymous: [submit]}
`, 44025+i))
		q := &bodyQueue{}
		s := startSpoolServer(t, q, st, threshold, max, conns...)
		d := dialConnector(t, s, 0)
		d.expect("220")
		d.cmd("EHLO c", "250")
		for _, c := range []struct {
			name string
			msg  string
			want string
		}{
			{"fields of max-2, a body", fields(max-2, true) + body, "250"},
			{"fields of max-1, a body", fields(max-1, true) + body, "552 5.3.4"},
			{"fields of max-2, no body", fields(max-2, true), "250"},
			{"fields of max-1, no body", fields(max-1, true), "552 5.3.4"},
			// A line that is no field ends the section too (the empty
			// line put before it counts); "no field" is known for one
			// by its first four bytes, within the max+1 the end is
			// decided on.
			{"fields of max-3, a line that is no field", fields(max-3, true) + "no field\r\n", "250"},
			{"fields of max-1, a line that is no field", fields(max-1, true) + "no field\r\n", "552 5.3.4"},
		} {
			for _, bdat := range []bool{false, true} {
				if got := sendOne(d, q, []byte(c.msg), bdat, 3000); !strings.HasPrefix(got.reply, c.want) {
					t.Errorf("threshold %d, %s, BDAT %v: %q, want %s", threshold, c.name, bdat, got.reply, c.want)
				}
			}
		}
		// By BDAT a last line may come without its CRLF: umbra adds it
		// and the empty line, both counted.
		for _, c := range []struct {
			n    int
			want string
		}{{max - 4, "250"}, {max - 3, "552 5.3.4"}} {
			if got := sendOne(d, q, []byte(fields(c.n+2, false)), true, 3000); !strings.HasPrefix(got.reply, c.want) {
				t.Errorf("threshold %d, fields of %d bytes without the last CRLF by BDAT: %q, want %s", threshold, c.n, got.reply, c.want)
			}
		}
		d.cmd("QUIT", "221")
	}
}
