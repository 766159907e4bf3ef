package config

import (
	"strings"
	"testing"
)

// life49: tracking.max_files had no range of its own: a billion was
// taken (every start checks each rotation name up to it), and one past
// the Go type named the type's range, not the setting's. Every integer
// setting of the transport and the tracking log is refused outside its
// range at its line, naming the setting and the range.
func TestIntegerSettingsRefusedOutsideTheirRange(t *testing.T) {
	head := "server: {name: a.example.test}\nreceive_connectors: [{name: x, bindings: [\"127.0.0.1:25\"]}]\n"
	wantRefused(t, map[string]string{
		head + "tracking:\n  max_files: 1000000000\n":               "c.yaml:4: tracking.max_files 1000000000 is outside its range: a whole number from 1 to 1000; 0 or absent: the default",
		head + "tracking:\n  max_files: 99999999999999999999\n":     "c.yaml:4: tracking.max_files: 99999999999999999999 is out of range for this setting (a whole number from 1 to 1000; 0 or absent: the default)",
		head + "transport:\n  poison_threshold: 5000\n":             "c.yaml:4: transport.poison_threshold 5000 is outside its range: a whole number from 1 to 1000; 0 or absent: the default",
		head + "transport:\n  max_active: -3\n":                     "c.yaml:4: transport.max_active -3 is outside its range: a whole number from 1 to 1000000; 0 or absent: the default",
		head + "transport:\n  max_hop_count: 100000\n":              "c.yaml:4: transport.max_hop_count 100000 is outside its range: a whole number from 1 to 10000; 0 or absent: the default",
		head + "transport:\n  shadow_heartbeat_retry_count: -1\n":   "c.yaml:4: transport.shadow_heartbeat_retry_count -1 is outside its range: a whole number from 1 to 1000000; 0 or absent: the default",
		head + "transport:\n  max_retries_local_site_shadow: -1\n":  "c.yaml:4: transport.max_retries_local_site_shadow -1 is outside its range: a whole number from 1 to 10000; 0 or absent: the default",
		head + "transport:\n  max_retries_remote_site_shadow: -1\n": "c.yaml:4: transport.max_retries_remote_site_shadow -1 is outside its range: a whole number from 1 to 10000; 0 or absent: the default",
	})
	for _, ok := range []string{"tracking:\n  max_files: 1000\n", "transport:\n  shadow_heartbeat_retry_count: 100000\n", "transport:\n  max_active: 2000\n"} {
		if _, err := Parse([]byte(head+ok), "c.yaml"); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
}

// life49 siblings: the counts of DNS, the quarantine and the send
// connectors, and the ports and prefixes that were checked but named
// the Go type's range past it.
func TestOtherIntegerSettingsNameTheirRange(t *testing.T) {
	head := "server: {name: a.example.test}\nreceive_connectors: [{name: x, bindings: [\"127.0.0.1:25\"]}]\n"
	sc := "send_connectors:\n  - name: out\n    address_spaces: [{domain: \"*\", cost: 1}]\n"
	wantRefused(t, map[string]string{
		head + "dns:\n  cache_size: -1\n":                          "c.yaml:4: dns.cache_size -1 is outside its range: a whole number from 1 to 10000000; 0 or absent: the default",
		head + "dns:\n  attempts: 99999999999999999999\n":          "c.yaml:4: dns.attempts: 99999999999999999999 is out of range for this setting (a whole number from 1 to 10",
		head + "transport:\n  quarantine:\n    max_messages: -5\n": "c.yaml:5: transport.quarantine.max_messages -5 is outside its range: a whole number from 0 to 100000000; 0 or absent: no bound",
		head + sc + "    mx_address_limit: 5000\n":                 "c.yaml:6: send_connectors[0].mx_address_limit 5000 is outside its range: a whole number from 0 to 1000; 0 or absent: no bound",
		head + sc + "    mx_session_limit: -1\n":                   "c.yaml:6: send_connectors[0].mx_session_limit -1 is outside its range: a whole number from 0 to 1000; 0 or absent: no bound",
		head + sc + "    port: 99999999999999999999\n":             "c.yaml:6: send_connectors[0].port: 99999999999999999999 is out of range for this setting (a whole number from 1 to 65535",
		"server: {name: a.example.test}\nreceive_connectors:\n  - name: y\n    bindings: [\"127.0.0.2:25\"]\n    rate_limits: {ipv4_prefix: 99999999999999999999}\n": "ipv4_prefix: 99999999999999999999 is out of range for this setting (a whole number from 8 to 32",
	})
}

// rdlife49: the counts life49 left without a range of their own — the
// LDAP cache, the DKIM signatures verified per message, the failed
// logins before a lockout — took any number (a billion signatures
// verified per message, a cache past memory) or said only "must not be
// negative" for the whole section. Each is refused outside its range
// at its line, naming it.
func TestRdlife49CountsLeftWithoutARangeNameTheirs(t *testing.T) {
	head := "server: {name: a.example.test}\nreceive_connectors: [{name: x, bindings: [\"127.0.0.1:25\"]}]\n"
	conn := "server: {name: a.example.test}\nreceive_connectors:\n  - name: x\n    bindings: [\"127.0.0.1:25\"]\n"
	wantRefused(t, map[string]string{
		head + "ldap:\n  url: ldaps://127.0.0.1\n  base_dn: dc=example,dc=test\n  cache_size: 1000000000000\n": "c.yaml:6: ldap.cache_size 1000000000000 is outside its range: a whole number from 1 to 10000000; 0 or absent: the default",
		head + "ldap:\n  url: ldaps://127.0.0.1\n  base_dn: dc=example,dc=test\n  cache_size: -1\n":            "c.yaml:6: ldap.cache_size -1 is outside its range: a whole number from 1 to 10000000; 0 or absent: the default",
		conn + "    message_authentication: {dkim: header, max_signatures: 1000000}\n":                         "c.yaml:5: receive_connectors[0].message_authentication.max_signatures 1000000 is outside its range: a whole number from 1 to 100; 0 or absent: the default",
		conn + "    message_authentication: {dkim: header, max_signatures: -2}\n":                              "c.yaml:5: receive_connectors[0].message_authentication.max_signatures -2 is outside its range: a whole number from 1 to 100; 0 or absent: the default",
		head + "auth_throttle:\n  lockout_after: -1\n":                                                         "c.yaml:4: auth_throttle.lockout_after -1 is outside its range: a whole number from 1 to 1000000; 0 or absent: the default",
		head + "auth_throttle:\n  lockout_after: 1000000000\n":                                                 "c.yaml:4: auth_throttle.lockout_after 1000000000 is outside its range: a whole number from 1 to 1000000; 0 or absent: the default",
	})
	for _, ok := range []string{head + "ldap:\n  url: ldaps://127.0.0.1\n  base_dn: dc=example,dc=test\n  cache_size: 10000000\n", conn + "    message_authentication: {dkim: header, max_signatures: 100}\n", head + "auth_throttle:\n  lockout_after: 1000000\n"} {
		if _, err := Parse([]byte(ok), "c.yaml"); err != nil && strings.Contains(err.Error(), "outside its range") {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
}

// rdlife49: recipients.callout's max_concurrent and max_entries were
// checked for their sign alone, together with the TTLs: a million
// callouts in flight, or more answers kept than the transport database
// could hold, was taken. Each is refused outside its range at its line.
func TestRdlife49CalloutCountsNameTheirRange(t *testing.T) {
	head := "server: {name: a.example.test}\nreceive_connectors: [{name: x, bindings: [\"127.0.0.1:25\"]}]\nrecipients:\n  callout:\n"
	wantRefused(t, map[string]string{
		head + "    max_concurrent: 1000000\n":  "c.yaml:5: recipients.callout.max_concurrent 1000000 is outside its range: a whole number from 1 to 10000; 0 or absent: the default",
		head + "    max_concurrent: -1\n":       "c.yaml:5: recipients.callout.max_concurrent -1 is outside its range: a whole number from 1 to 10000; 0 or absent: the default",
		head + "    max_entries: 10000000000\n": "c.yaml:5: recipients.callout.max_entries 10000000000 is outside its range: a whole number from 1 to 100000000; 0 or absent: the default",
		head + "    max_entries: -1\n":          "c.yaml:5: recipients.callout.max_entries -1 is outside its range: a whole number from 1 to 100000000; 0 or absent: the default",
	})
	if _, err := Parse([]byte(head+"    max_concurrent: 10000\n    max_entries: 100000000\n"), "c.yaml"); err != nil {
		t.Errorf("the ranges' ends refused: %v", err)
	}
}

// rdlife49: the rate-limit counts were told together at their
// section's line ("limits are counts"), never which one was wrong, and
// took any size. Each is refused outside its range at its line.
func TestRdlife49RateLimitCountsNameTheirRange(t *testing.T) {
	head := "server: {name: a.example.test}\nreceive_connectors:\n  - name: x\n    bindings: [\"127.0.0.1:25\"]\n    rate_limits:\n"
	wantRefused(t, map[string]string{
		head + "      address: {window: 1m, messages: -1}\n":                     "c.yaml:6: receive_connectors[0].rate_limits.address.messages -1 is outside its range: a whole number from 0 to 1000000000; 0 or absent: no limit",
		head + "      network: {window: 1m, connections: 10000000000}\n":         "c.yaml:6: receive_connectors[0].rate_limits.network.connections 10000000000 is outside its range: a whole number from 0 to 1000000000; 0 or absent: no limit",
		head + "      sender_domain: {window: 1m, recipients: -3}\n":             "c.yaml:6: receive_connectors[0].rate_limits.sender_domain.recipients -3 is outside its range: a whole number from 0 to 1000000000; 0 or absent: no limit",
		head + "      user:\n        window: 1m\n        messages: 2000000000\n": "c.yaml:8: receive_connectors[0].rate_limits.user.messages 2000000000 is outside its range: a whole number from 0 to 1000000000; 0 or absent: no limit",
	})
	if _, err := Parse([]byte(head+"      address: {window: 1m, messages: 1000000000}\n"), "c.yaml"); err != nil {
		t.Errorf("the range's end refused: %v", err)
	}
}

// wantRefused parses each file and wants its refusal to hold the text
// given for it.
func wantRefused(t *testing.T, cases map[string]string) {
	t.Helper()
	for yaml, want := range cases {
		_, err := Parse([]byte(yaml), "c.yaml")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q:\n got %v\nwant %s", yaml, err, want)
		}
	}
}

// rdlife49: the back-pressure counts (messages queued, sessions) were
// checked for their order alone: a mark past any queue or session count
// umbra can hold was taken and never reached, and a negative one was
// told for the whole resource. Each mark is refused outside its range
// at its line, naming it.
func TestRdlife49BackPressureCountsNameTheirRange(t *testing.T) {
	head := "server: {name: a.example.test}\nreceive_connectors: [{name: x, bindings: [\"127.0.0.1:25\"]}]\nback_pressure:\n"
	wantRefused(t, map[string]string{
		head + "  total_queue: {normal: 10, medium: 20, high: 100000000000}\n": "c.yaml:4: back_pressure.total_queue.high 100000000000 is outside its range: a whole number from 0 to 1000000000",
		head + "  sessions:\n    normal: -1\n    medium: 2\n    high: 3\n":     "c.yaml:5: back_pressure.sessions.normal -1 is outside its range: a whole number from 0 to 1000000000",
		head + "  submission_queue: {normal: 1, medium: -2, high: 3}\n":        "c.yaml:4: back_pressure.submission_queue.medium -2 is outside its range: a whole number from 0 to 1000000000",
	})
	if _, err := Parse([]byte(head+"  total_queue: {normal: 10, medium: 20, high: 1000000000}\n"), "c.yaml"); err != nil {
		t.Errorf("the range's end refused: %v", err)
	}
}
