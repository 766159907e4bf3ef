package main

import (
	"strings"
	"testing"

	"umbra/internal/config"
)

// SMTP-5, OPS (README "What a size limit measures"): config check warns,
// at its line, of a send connector whose max_message_size is below what
// a receive connector that relays takes — a message taken there would
// be bounced at routing —, and not of one at or above it, nor where no
// receive connector relays.
func TestConfigWarnsSendLimitBelowReceiveLimit(t *testing.T) {
	conf := func(recv, perms, send string) *config.Config {
		c, err := config.Parse([]byte(`server: {name: mx.example.test}
receive_connectors:
  - name: in
    bindings: ["127.0.0.152:8250"]
    remote_ranges: ["127.0.0.0/8"]
    permissions: {anonymous: [`+perms+`]}
    limits: {max_message_size: `+recv+`}
send_connectors:
  - name: out
    address_spaces: [{domain: "*", cost: 1}]
    smart_hosts: ["127.0.0.152:8251"]
    tls: none
    max_message_size: `+send+`
`), "t.yaml")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tc := range []struct {
		recv, perms, send string
		warn              bool
	}{
		{"20000", "submit, relay", "19999", true},
		{"20000", "submit, relay", "20000", false},
		{"20000", "submit, relay", "30000", false},
		{"20000", "submit", "10000", false},
	} {
		ws := sendLimitsBelowReceive(conf(tc.recv, tc.perms, tc.send))
		if got := len(ws) == 1; got != tc.warn || len(ws) > 1 {
			t.Errorf("receive %s (%s), send %s: %q", tc.recv, tc.perms, tc.send, ws)
			continue
		}
		if tc.warn && (!strings.Contains(ws[0], `send connector "out": max_message_size 19999 bytes is below what receive connector "in" takes (messages of up to 20000 bytes`) ||
			!strings.Contains(ws[0], "t.yaml:")) {
			t.Errorf("warning %q", ws[0])
		}
	}
}
