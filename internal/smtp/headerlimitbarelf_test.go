package smtp

import (
	"fmt"
	"strings"
	"testing"
)

// max_header_size holds the header section as umbra stores it: under
// bare_newlines: normalize, the CR umbra puts before each bare LF is
// counted as much as one the client sent — header fields whose lines end
// in LF alone are held to the same bound as the same fields in CRLF, in
// memory and spooled, by DATA and BDAT — and a BDAT chunk that ends
// inside the CRLF CRLF (or LF LF) ending the section changes nothing.
func TestHeaderLimitCountsNormalisedNewlinesAndSplitEnd(t *testing.T) {
	const max = 8192
	st, _ := spoolStore(t)
	// fields is header fields of n bytes in all once their line ends
	// are CRLF, written with nl.
	fields := func(n int, nl string) string {
		field := "X-H: " + strings.Repeat("v", 90) + "\r\n" // 97 bytes
		k := (n - 200) / len(field)
		last := n - k*len(field)
		s := strings.Repeat(field, k) + "X-L: " + strings.Repeat("w", last-7) + "\r\n"
		return strings.ReplaceAll(s, "\r\n", nl)
	}
	body := "body line\r\n"
	for i, threshold := range []int64{1 << 30, 1024} {
		conns := connectors(t, fmt.Sprintf(`
  - name: default
    bindings: ["127.0.0.192:%d"]
    permissions: {anonymous: [submit]}
    bare_newlines: normalize
`, 46025+i))
		q := &bodyQueue{}
		s := startSpoolServer(t, q, st, threshold, max, conns...)
		d := dialConnector(t, s, 0)
		d.expect("220")
		d.cmd("EHLO c", "250")
		for _, nl := range []string{"\r\n", "\n"} {
			for _, c := range []struct {
				n    int
				want string
			}{{max - 2, "250"}, {max - 1, "552 5.3.4"}} {
				head := fields(c.n, nl) + nl // the section and its empty line
				msg := head + body
				if got := sendOne(d, q, []byte(msg), false, 0); !strings.HasPrefix(got.reply, c.want) {
					t.Errorf("threshold %d, line ends %q, fields of %d by DATA: %q, want %s", threshold, nl, c.n, got.reply, c.want)
				}
				// BDAT chunks ending at each byte of the section's end.
				for cut := len(head) - 2*len(nl); cut <= len(head); cut++ {
					if got := sendOne(d, q, []byte(msg), true, cut); !strings.HasPrefix(got.reply, c.want) {
						t.Errorf("threshold %d, line ends %q, fields of %d by BDAT cut at %d of %d: %q, want %s",
							threshold, nl, c.n, cut, len(head), got.reply, c.want)
					}
				}
			}
		}
		d.cmd("QUIT", "221")
	}
}
