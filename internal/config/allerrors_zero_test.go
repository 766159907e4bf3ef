package config

import (
	"strings"
	"testing"
)

// A file with a value that does not decode and an explicit zero shows
// both in one run (rt18c-F5 mend): the zero checks run on what is left
// as they do on a file that decodes whole, not only on a second run
// after the first error is mended.
func TestEveryErrorInOneRunWithZero(t *testing.T) {
	const file = `server:
  name: a.test
  role: hub
transport:
  message_expiration: 1x
  max_active: 0
receive_connectors:
  - name: d
    bindings: ["127.0.0.131:5227"]
    remote_ranges: [127.0.0.0/8]
send_connectors:
  - name: s
    address_spaces: [{domain: "*", cost: 0}]
    smart_hosts: ["127.0.0.1:2525"]
    tls: none
mailbox:
  maildir: maildir
`
	_, err := Parse([]byte(file), "bad.yaml")
	if err == nil {
		t.Fatal("loaded")
	}
	got := err.Error()
	for _, want := range []string{
		`bad.yaml:5: transport.message_expiration: invalid duration "1x"`,
		`bad.yaml:6: transport.max_active: 0 is refused`,
		`bad.yaml:13: `,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("errors:\n%s\nwant among them:\n%s", got, want)
		}
	}
	// The same file with the duration mended: the zeros' errors, as the
	// run above gave them.
	_, err2 := Parse([]byte(strings.Replace(file, "1x", "5d", 1)), "bad.yaml")
	if err2 == nil {
		t.Fatal("loaded with explicit zeros")
	}
	for _, line := range strings.Split(err2.Error(), "\n") {
		if !strings.Contains(got, line) {
			t.Errorf("second run's %q not in the first run's errors:\n%s", line, got)
		}
	}
}
