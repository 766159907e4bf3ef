package smtp

import (
	"strings"
	"testing"
)

// A QUIT with an argument is refused (501) and quits nothing: it is an
// error and a junk command like any other, so a client cannot send it
// without bound past max_errors or max_junk_commands — only the bare
// QUIT is exempt from the limits (README "QUIT is never counted").
func TestSMTP8QuitWithArgumentCountsTowardTheLimits(t *testing.T) {
	s := startServer(t, &fakeQueue{}, connectors(t, `
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {max_junk_commands: 1000, max_errors: 5, soft_error_limit: 100}
`)...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	for i := 0; i < 5; i++ {
		if r := d.cmd("QUIT now", ""); !strings.HasPrefix(r, "501") {
			t.Fatalf("QUIT now #%d: %q, want 501", i+1, r)
		}
	}
	if r := d.cmd("QUIT now", ""); !strings.HasPrefix(r, "421 4.7.0 Too many errors") {
		t.Fatalf("QUIT now past max_errors: %q, want the 421 of the error limit", r)
	}
}
