package config

import (
	"strings"
	"testing"
)

// A check that compares two keys does not run when one of them did not
// parse: it would compare the written key with the default the failed
// one fell back to, and blame a value the operator never wrote, before
// the real error (SPEC OPS config: every error at its line).
func TestCrossKeyCheckSkipsAValueThatDidNotParse(t *testing.T) {
	for _, c := range []struct {
		name, yaml, want, notWant string
	}{
		{"delay_notification", "transport:\n  message_expiration: 1h\n  delay_notification: 10min\n",
			`t.yaml:9: transport.delay_notification: invalid duration "10min"`, "must be shorter than message_expiration"},
		{"message_expiration", "transport:\n  delay_notification: 1h\n  message_expiration: 30mins\n",
			`t.yaml:9: transport.message_expiration: invalid duration "30mins"`, "must be shorter than message_expiration"},
		{"auth_throttle.delay", "auth_throttle:\n  max_delay: 500ms\n  delay: 2secs\n",
			`t.yaml:9: auth_throttle.delay: invalid duration "2secs"`, "max_delay must be at least delay"},
		{"auth_throttle.max_delay", "auth_throttle:\n  delay: 45s\n  max_delay: 1minute\n",
			`t.yaml:9: auth_throttle.max_delay: invalid duration "1minute"`, "max_delay must be at least delay"},
		// A receive connector's: the key blamed is written, the one it
		// needs did not decode (a scalar for a list, a list for a path).
		{"auth.mechanisms", "    auth: {credentials_file: creds, allow_insecure: true, required: true, mechanisms: PLAIN}\n",
			"t.yaml:7: ", "auth.required needs auth.mechanisms"},
		{"tls.cert_file", "    tls: {required: true, cert_file: [a.pem], key_file: k.pem}\n",
			"t.yaml:7: ", "tls.required needs cert_file"},
		// The console's: its listen blamed for a file key that did not decode.
		{"console.credentials_file", "console:\n  listen: 127.0.0.160:12443\n  cert_file: c.pem\n  key_file: k.pem\n  credentials_file: [users]\n",
			"t.yaml:11: console.credentials_file: a single value is expected, not a list", "there is no credentials file"},
		{"console.cert_file", "console:\n  listen: 127.0.0.160:12443\n  cert_file: [c.pem]\n  key_file: k.pem\n  credentials_file: users\n",
			"t.yaml:9: console.cert_file: a single value is expected, not a list", "there is no certificate"},
		{"console.key_file", "console:\n  listen: 127.0.0.160:12443\n  cert_file: c.pem\n  key_file: [k.pem]\n  credentials_file: users\n",
			"t.yaml:10: console.key_file: a single value is expected, not a list", "console needs both cert_file and key_file"},
		// Across sections: the authoritative domains blamed for a
		// maildir that did not decode.
		{"mailbox.maildir", "", "t.yaml:3: mailbox.maildir", "authoritative domains need mailbox.maildir"},
	} {
		yaml := zeroBase + c.yaml
		if c.name == "mailbox.maildir" {
			yaml = strings.Replace(zeroBase, "mailbox: {maildir: md}", "mailbox: {maildir: [md]}", 1)
		}
		_, err := Parse([]byte(yaml), "t.yaml")
		if err == nil {
			t.Errorf("%s: loaded", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: errors\n%v\nwant %q", c.name, err, c.want)
		}
		if strings.Contains(err.Error(), c.notWant) {
			t.Errorf("%s: a cross-key check ran on a value that did not parse:\n%v", c.name, err)
		}
	}
	// Both written and valid: the check still runs, at delay_notification.
	_, err := Parse([]byte(zeroBase+"transport:\n  message_expiration: 1h\n  delay_notification: 2h\n"), "t.yaml")
	if err == nil || !strings.Contains(err.Error(), "t.yaml:9: transport.delay_notification (2h0m0s) must be shorter") {
		t.Errorf("valid pair: %v", err)
	}
}
