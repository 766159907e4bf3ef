package config

import (
	"strings"
	"testing"
)

// A port, a size or a duration written with a leading zero whose octal
// and decimal readings differ is refused at its line naming both
// readings, as a whole-number setting is (rt41 F3): 025 reads 25 to a
// dialer and 21 to YAML's integer rules, and an operator cannot tell
// which umbra took. 007 means 7 either way and loads, but as a smart
// host's port (one check with queue redirect --to, which refuses it).
func TestLeadingZeroRefusedInPortsSizesDurations(t *testing.T) {
	base := `server:
  name: a.example.test
%s
receive_connectors:
  - name: x
    bindings: ["%s"]
send_connectors:
  - name: out
    address_spaces:
      - domain: "*"
        cost: 1
    smart_hosts: ["%s"]
`
	fill := func(extra, binding, smart string) string {
		doc := strings.Replace(base, "%s", extra, 1)
		doc = strings.Replace(doc, "%s", binding, 1)
		return strings.Replace(doc, "%s", smart, 1)
	}
	for _, c := range []struct {
		doc        string
		line       string
		dec, octal string
	}{
		{fill("", "127.0.0.1:025", "mx.example.org"), "z.yaml:6: ", "25", "21"},
		{fill("", "127.0.0.1:25", "mx.example.org:0587"), "z.yaml:12: ", "587", "0587"},
		{fill("dns:\n  servers: [\"127.0.0.1:053\"]", "127.0.0.1:25", "mx.example.org"), "z.yaml:4: ", "53", "43"},
		{fill("ldap:\n  url: ldap://dir.example.org:0389", "127.0.0.1:25", "mx.example.org"), "z.yaml:4: ", "389", "0389"},
		{fill("transport:\n  spool_threshold: 010MiB", "127.0.0.1:25", "mx.example.org"), "z.yaml:4: ", "10", "8"},
		{fill("transport:\n  message_expiration: 010d", "127.0.0.1:25", "mx.example.org"), "z.yaml:4: ", "10", "8"},
	} {
		_, err := Parse([]byte(c.doc), "z.yaml")
		if err == nil || !strings.Contains(err.Error(), c.line) || !strings.Contains(err.Error(), "leading zero") ||
			!strings.Contains(err.Error(), c.dec) || !strings.Contains(err.Error(), c.octal) {
			t.Errorf("want an error at %q naming %s and %s, got %v\n%s", c.line, c.dec, c.octal, err, c.doc)
		}
	}
	// The same reading either way loads.
	if _, err := Parse([]byte(fill("transport:\n  spool_threshold: 007MiB", "127.0.0.1:007", "mx.example.org")), "z.yaml"); err != nil &&
		strings.Contains(err.Error(), "leading zero") {
		t.Errorf("007 refused: %v", err)
	}
	// A smart host's port is checked as a queue redirect's target is
	// (CheckHostPort): no leading zero, 007 neither.
	if _, err := Parse([]byte(fill("", "127.0.0.1:25", "mx.example.org:007")), "z.yaml"); err == nil ||
		!strings.Contains(err.Error(), `z.yaml:12: smart host "mx.example.org:007": the port 007 has a leading zero: write 7`) {
		t.Errorf("smart host port 007: %v", err)
	}
}
