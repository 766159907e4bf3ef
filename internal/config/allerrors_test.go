package config

import (
	"strings"
	"testing"
)

// config check reports every error of a file in one run (OPS-, README
// "every such error"): each value that does not decode, not only the
// first, and the validation of what did decode with them; a value of
// the wrong shape (a scalar where a list is expected) in an operator's
// words, at its line (rt18c-F5).
func TestEveryErrorInOneRun(t *testing.T) {
	const file = `server:
  name: a.test
  role: hubb
transport:
  retry_schedule: [10s, -5s, 1m]
  message_expiration: 1x
  max_active: 5
  dead_destination_cool_down: 5m
receive_connectors:
  - name: d
    bindings: "127.0.0.131:5227"
    remote_ranges: [127.0.0.0/8]
  - name: e
    bindings: ["127.0.0.131:5228"]
    remote_ranges: [127.0.0.0/8]
    max_acknowledgement_delay: soon
send_connectors:
  - name: s
    address_spaces: [{domain: "*", cost: 1}]
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
		`bad.yaml:3: server.role must be hub or edge, not "hubb"`,
		`bad.yaml:5: transport.retry_schedule[1]: negative duration "-5s"`,
		`bad.yaml:6: transport.message_expiration: invalid duration "1x"`,
		`bad.yaml:11: receive_connectors[0].bindings: a list is expected, not "127.0.0.131:5227"`,
		`bad.yaml:16: receive_connectors[1].max_acknowledgement_delay: invalid duration "soon"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("errors:\n%s\nwant among them:\n%s", got, want)
		}
	}
	// What was left out is not validated as its default instead.
	if strings.Contains(got, "needs at least one binding") {
		t.Errorf("the bindings left out were validated as none:\n%s", got)
	}
	if strings.Contains(got, "cannot unmarshal") || strings.Contains(got, "config.") {
		t.Errorf("a decoding error in the decoder's words, not the operator's:\n%s", got)
	}

	_, err = Parse([]byte("server:\n  name: a.test\ntransport:\n  retry_schedule: 5m\n"), "bad.yaml")
	if err == nil || !strings.Contains(err.Error(), `bad.yaml:4: transport.retry_schedule: a list of durations is expected, not "5m"`) {
		t.Errorf("a duration where a list of them is expected: %v", err)
	}
}
