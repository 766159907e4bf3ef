package smtp

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
)

// rt33b F6 (SMTP-8, SMTP-5; RFC 4954 §4): an AUTH command line and a SASL
// response may be up to 12288 octets (their CRLF included) whatever
// max_line_length says; the framing layer alone allows it, to AUTH lines
// and responses only: any other command still ends the session at
// max_line_length (421), and so does an AUTH line over 12288.
func TestSMTP8AuthLinesUpTo12288Octets(t *testing.T) {
	conn := fmt.Sprintf(`
  - name: submission
    bindings: ["127.0.0.1:0"]
    auth: {mechanisms: [PLAIN, LOGIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit, relay]}
    limits: {max_line_length: 1000, max_auth_failures: 10, max_errors: 50, soft_error_limit: 50, error_delay: 1ms}
`, credsFile(t))
	s := startServer(t, &fakeQueue{}, connectors(t, conn)...)
	// b64Line is an AUTH PLAIN line (or a response, prefix "") of n
	// octets, CRLF included: valid base64 of a PLAIN response whose
	// authorization identity makes up the length.
	b64Line := func(prefix string, n int) string {
		raw := n - len(prefix) - 2
		raw -= raw % 4
		id := strings.Repeat("z", raw/4*3-len("\x00alice\x00secret"))
		l := prefix + base64.StdEncoding.EncodeToString([]byte(id+"\x00alice\x00secret"))
		return l + strings.Repeat(" ", n-2-len(l)) // trailing blanks: the length exact
	}
	for _, n := range []int{4096, 12288} {
		d := dial(t, s, "")
		d.expect("220")
		d.cmd("EHLO c", "250")
		if got := d.cmd(b64Line("AUTH PLAIN ", n), ""); strings.HasPrefix(got, "421") || strings.HasPrefix(got, "EOF") {
			t.Fatalf("AUTH PLAIN line of %d octets: %q; want it read as AUTH", n, got)
		}
		d.cmd("AUTH PLAIN", "334")
		if got := d.cmd(b64Line("", n), ""); strings.HasPrefix(got, "421") || strings.HasPrefix(got, "EOF") {
			t.Fatalf("SASL response of %d octets: %q; want it read as a response", n, got)
		}
		d.cmd("NOOP", "250")
		d.cmd(plainAlice, "235 2.0.0")
		d.cmd("QUIT", "221")
	}
	for _, line := range []string{
		b64Line("AUTH PLAIN ", 12289),
		"NOOP " + strings.Repeat("A", 4000),
		"MAIL FROM:<a@b.test> " + strings.Repeat("A", 1200),
		"XAUTH " + strings.Repeat("A", 1200),
		"AUTHX " + strings.Repeat("A", 1200),
	} {
		d := dial(t, s, "")
		d.expect("220")
		d.cmd("EHLO c", "250")
		if got := d.cmd(line, ""); !strings.HasPrefix(got, "421 4.7.0 Line too long") {
			t.Errorf("%.12q… of %d octets: %q; want 421 4.7.0 Line too long", line, len(line)+2, got)
		}
	}
	// A response over 12288 ends the session as any line over its limit.
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("AUTH PLAIN", "334")
	if got := d.cmd(b64Line("", 12289), ""); !strings.HasPrefix(got, "421 4.7.0 Line too long") {
		t.Errorf("SASL response of 12289 octets: %q; want 421 4.7.0 Line too long", got)
	}
}
