package config

import (
	"strings"
	"testing"
)

// rt53 R5's remainder: every duration has a floor below which it cannot
// work (a slip of unit: 1s for 1d, 1ms for 1s) and a rate a ceiling
// above which no client could keep to it. Each is refused at its line,
// naming the floor or ceiling; the floor itself, and the defaults, load.
func TestDurationAndRateBoundsRefused(t *testing.T) {
	head := "server: {name: a.example.test}\n"
	rc := "receive_connectors: [{name: x, bindings: [\"127.0.0.1:25\"]}]\n"
	conn := func(extra string) string {
		return head + "receive_connectors:\n  - name: x\n    bindings: [\"127.0.0.1:25\"]\n" + extra
	}
	for yaml, want := range map[string]string{
		// Lifetimes: what an operator must be able to look at or ask for.
		head + rc + "transport:\n  quarantine:\n    expiration: 1s\n": "c.yaml:5: transport.quarantine.expiration 1s is below 1h:",
		head + rc + "tracking:\n  max_age: 1s\n":                      "c.yaml:4: tracking.max_age 1s is below 1h:",
		head + rc + "transport:\n  max_dumpster_time: 5s\n":           "c.yaml:4: transport.max_dumpster_time 5s is below 1m:",
		head + rc + "console:\n  session_idle: 30s\n":                 "c.yaml:4: console.session_idle 30s is below 1m",
		head + rc + "transport:\n  delay_notification: 10ms\n":        "c.yaml:4: transport.delay_notification 10ms is below 1s",
		head + rc + "outbound_tls:\n  mta_sts_refresh_interval: 1s\n": "c.yaml:4: outbound_tls.mta_sts_refresh_interval 1s is below 1m",
		head + rc + "recipients:\n  callout:\n    positive_ttl: 1s\n": "c.yaml:5: recipients.callout.positive_ttl 1s is below 1m",
		head + rc + "recipients:\n  callout:\n    negative_ttl: 1s\n": "c.yaml:5: recipients.callout.negative_ttl 1s is below 1m",
		head + rc + "auth_throttle:\n  lockout: 500ms\n":              "c.yaml:4: auth_throttle.lockout 500ms is below 1s",
		head + rc + "auth_throttle:\n  window: 500ms\n":               "c.yaml:4: auth_throttle.window 500ms is below 1s",
		// Waits for a peer: below these nothing can answer.
		head + rc + "dns:\n  timeout: 1ms\n":                                                       "c.yaml:4: dns.timeout 1ms is below 100ms",
		head + rc + "ldap:\n  timeout: 5ms\n":                                                      "c.yaml:4: ldap.timeout 5ms is below 100ms",
		head + rc + "recipients:\n  callout:\n    timeout: 300ms\n":                                "c.yaml:5: recipients.callout.timeout 300ms is below 1s",
		head + rc + "outbound_tls:\n  mta_sts_fetch_timeout: 30ms\n":                               "c.yaml:4: outbound_tls.mta_sts_fetch_timeout 30ms is below 1s",
		conn("    message_authentication: {dkim: header, timeout: 20ms}\n"):                        "c.yaml:5: receive_connectors[0].message_authentication.timeout 20ms is below 100ms",
		conn("    milters:\n      - {name: m, address: \"inet:127.0.0.1:9\", eom_timeout: 5ms}\n"): "c.yaml:6: receive_connectors[0].milters[0].eom_timeout 5ms is below 100ms",
		// Intervals: below these a loop spins.
		head + rc + "transport:\n  dead_destination_cool_down: 300ms\n":        "c.yaml:4: transport.dead_destination_cool_down 300ms is below 1s",
		head + rc + "back_pressure:\n  check_interval: 1ms\n":                  "c.yaml:4: back_pressure.check_interval 1ms is below 100ms",
		head + rc + "pickup:\n  directory: /nonexistent/p\n  interval: 1ms\n":  "c.yaml:5: pickup.interval 1ms is below 100ms",
		conn("    rate_limits:\n      address: {window: 10ms, messages: 5}\n"): "c.yaml:6: receive_connectors[0].rate_limits.address.window 10ms is below 1s",
		// Ceilings.
		conn("    limits: {min_data_rate: 2GiB}\n"):       "c.yaml:5: receive_connectors[0].limits.min_data_rate 2147483648 bytes per second is above 1MiB",
		conn("    limits: {error_delay: 10m}\n"):          "c.yaml:5: receive_connectors[0].limits.error_delay 10m0s is above 1m",
		head + rc + "back_pressure:\n  slow_delay: 10m\n": "c.yaml:4: back_pressure.slow_delay 10m0s is above 1m",
		// One delivery attempt's lookups together (rt60 M2).
		head + rc + "transport:\n  mx_lookup_timeout: 500ms\n": "c.yaml:4: transport.mx_lookup_timeout 500ms is below 1s",
		head + rc + "transport:\n  mx_lookup_timeout: 1h\n":    "c.yaml:4: transport.mx_lookup_timeout 1h0m0s is above 10m",
	} {
		_, err := Parse([]byte(yaml), "c.yaml")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q:\n got %v\nwant %s", yaml, err, want)
		}
	}
	for _, yaml := range []string{
		head + rc,
		head + rc + "transport:\n  quarantine: {expiration: 1h}\n  max_dumpster_time: 1m\n  delay_notification: 1s\n  dead_destination_cool_down: 1s\n  mx_lookup_timeout: 1s\n",
		head + rc + "transport:\n  mx_lookup_timeout: 10m\n",
		head + rc + "tracking: {max_age: 1h}\nconsole: {session_idle: 1m}\ndns: {timeout: 100ms}\nldap: {timeout: 100ms}\nback_pressure: {check_interval: 100ms, slow_delay: 1m}\n",
		head + rc + "recipients:\n  callout: {positive_ttl: 1m, negative_ttl: 1m, timeout: 1s}\nauth_throttle: {lockout: 1s, window: 1s}\noutbound_tls: {mta_sts_fetch_timeout: 1s, mta_sts_refresh_interval: 1m}\n",
		conn("    limits: {min_data_rate: 1MiB, error_delay: 1m}\n    rate_limits:\n      address: {window: 1s, messages: 5}\n"),
	} {
		if _, err := Parse([]byte(yaml), "c.yaml"); err != nil {
			t.Errorf("%q: %v", yaml, err)
		}
	}
}
