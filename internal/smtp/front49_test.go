package smtp

import (
	"strings"
	"testing"
)

// QUIT is never a junk command nor an error, and a session at either
// limit that says QUIT gets its 221, not the limit's 421 (rt49 front
// F3): EHLO + 99 NOOP + QUIT, and 20 unknown commands + QUIT. Any other
// command past the limit still ends the session with the 421.
func TestSMTP8QuitAtLimitGets221(t *testing.T) {
	s := startServer(t, &fakeQueue{}, connectors(t, `
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {max_junk_commands: 100, max_errors: 20, soft_error_limit: 100}
`)...)
	for _, tc := range []struct {
		name, verb string
		n          int
		last, want string
	}{
		{"junk limit then QUIT", "NOOP", 99, "QUIT", "221 2.0.0"},
		{"junk limit then NOOP", "NOOP", 99, "NOOP", "421 4.7.0 Too many commands"},
		{"error limit then QUIT", "FOO", 20, "QUIT", "221 2.0.0"},
		{"error limit then MAIL", "FOO", 20, "MAIL FROM:<a@example.org>", "421 4.7.0 Too many errors"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := dial(t, s, "")
			d.expect("220")
			d.cmd("EHLO c", "250")
			for i := 0; i < tc.n; i++ {
				if r := d.cmd(tc.verb, ""); strings.HasPrefix(r, "421") {
					t.Fatalf("%s #%d: %q", tc.verb, i+1, r)
				}
			}
			if r := d.cmd(tc.last, tc.want); !strings.HasPrefix(r, tc.want) {
				t.Fatalf("%s after the limit: %q, want %q", tc.last, r, tc.want)
			}
		})
	}
}
