package config

import (
	"errors"
	"strings"
	"testing"
)

const zeroBase = `server: {name: a.example.test}
accepted_domains: [{domain: example.test, recipient_validation: "off"}]
mailbox: {maildir: md}
receive_connectors:
  - name: x
    bindings: ["127.0.0.1:25"]
`

// A zero or empty value that umbra would replace by its default is a
// configuration error naming its line; never a silent default.
func TestExplicitZeroIsNeverASilentDefault(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		// The red team's three.
		{"transport:\n  message_expiration: 0s\n", "z.yaml:8: transport.message_expiration: 0s"},
		{"transport:\n  retry_schedule: []\n", "z.yaml:8: transport.retry_schedule: []"},
		{"transport:\n  shadow_heartbeat_retry_count: 0\n", "z.yaml:8: transport.shadow_heartbeat_retry_count: 0"},
		// Siblings: durations, counts, sizes, lists, names.
		{"transport:\n  max_active: 0\n", "z.yaml:8: transport.max_active: 0"},
		{"transport:\n  shadow_heartbeat_timeout: 0s\n", "z.yaml:8: transport.shadow_heartbeat_timeout: 0s"},
		{"transport:\n  dead_destination_cool_down: 0s\n", "z.yaml:8: transport.dead_destination_cool_down: 0s"},
		{"transport:\n  bounce_size_limit: 0\n", "z.yaml:8: transport.bounce_size_limit: 0"},
		{"tracking:\n  max_size: 0B\n", "z.yaml:8: tracking.max_size: 0B"},
		{"server:\n  data_dir: \"\"\n", "z.yaml:8: server.data_dir"},
		{"auth_throttle:\n  delay: 0s\n", "z.yaml:8: auth_throttle.delay: 0s"},
		{"    limits: {max_recipients: 0}\n", "z.yaml:7: receive_connectors[0].limits.max_recipients: 0"},
		{"    remote_ranges: []\n", "z.yaml:7: receive_connectors[0].remote_ranges: []"},
	} {
		yaml := zeroBase + c.yaml
		if strings.HasPrefix(c.yaml, "server:") {
			yaml = strings.Replace(zeroBase, "server: {name: a.example.test}\n", "", 1) + "server:\n  name: a.example.test\n" +
				strings.TrimPrefix(c.yaml, "server:\n")
		}
		_, err := Parse([]byte(yaml), "z.yaml")
		if err == nil {
			t.Errorf("%q: accepted (a silent default)", c.yaml)
			continue
		}
		var es Errors
		if !errors.As(err, &es) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "default") {
			t.Errorf("%q: %v\nwant %q", c.yaml, err, c.want)
		}
	}
	// Zero values with a documented meaning are kept.
	cfg, err := Parse([]byte(zeroBase+`    max_acknowledgement_delay: 0s
transport:
  delay_notification: 0
  retry_jitter: 0
  max_dumpster_size_per_database: 0
  quarantine: {max_size: 0}
`), "z.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Transport.DelayNotification != 0 || cfg.Transport.MaxDumpsterSizePerDatabase != 0 || cfg.Transport.Quarantine.MaxSize != 0 ||
		cfg.Transport.RetryJitter != 0 ||
		cfg.ReceiveConnectors[0].MaxAcknowledgementDelay != 0 {
		t.Errorf("a meaningful zero was replaced: %+v", cfg.Transport)
	}
	// The reason is given for the three an operator reads as "never"/"none".
	_, err = Parse([]byte(zeroBase+"transport:\n  message_expiration: 0s\n"), "z.yaml")
	if err == nil || !strings.Contains(err.Error(), "does not mean never") {
		t.Errorf("message_expiration: 0s: %v", err)
	}
}
