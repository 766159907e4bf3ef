package main

import (
	"testing"

	"umbra/internal/config"
)

// DSN (rt36 F3): whose senders read umbra's own diagnostics whole in a
// DSN (a TLS failure's cause, "451 4.7.5 mx.example: certificate not
// trusted"): the organisation's own — senders of its authoritative and
// of its internal_relay domains. An edge has only internal_relay
// domains (its organisation's users relay out through it); counting
// only authoritative domains made every sender of an edge outside, so
// every DSN it made hid the cause in "451 4.7.5 security or policy
// problem". A sender of an external_relay or of no accepted domain stays
// outside.
func TestInsideSendersAreOfAuthoritativeAndInternalRelayDomains(t *testing.T) {
	cfg, err := config.Parse([]byte(`server: {name: edge.rt.test, role: edge}
transport: {retry_schedule: [10s]}
accepted_domains:
  - {domain: co.rt.test, type: internal_relay}
  - {domain: "*.corp.rt.test", type: internal_relay}
  - {domain: partner.test, type: external_relay}
receive_connectors: [{name: x, bindings: ["127.0.0.1:0"]}]
send_connectors: [{name: out, address_spaces: [{domain: "*", cost: 1}], smart_hosts: ["127.0.0.1:25"], tls: none}]
`), "umbra.yaml")
	if err != nil {
		t.Fatal(err)
	}
	in := inside(cfg)
	for addr, want := range map[string]bool{
		"u@co.rt.test":      true,
		"u@CO.rt.test":      true,
		"u@eu.corp.rt.test": true,
		"u@partner.test":    false,
		"u@outside.example": false,
		"MAILER-DAEMON":     false,
	} {
		if got := in.Sender(addr); got != want {
			t.Errorf("Sender(%q) = %v, want %v", addr, got, want)
		}
	}
}
