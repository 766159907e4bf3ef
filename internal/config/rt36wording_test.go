package config

import (
	"strings"
	"testing"
)

// rt36 F4 (OPS-3): three refusals that said what was not so.
//   - cost: 1e3 was "not a whole number (a fraction is refused, not
//     rounded)": 1e3 is a whole number, written in exponent form; the
//     refusal says so and names the digits to write.
//   - message_expiration: 1h with no delay_notification key blamed
//     "transport.delay_notification (4h0m0s)" without saying that is
//     the default, which the file does not set.
//   - a YAML merge key (<<: *anchor) was an unknown key "<<": merge keys
//     are not supported, and the refusal says so.
func TestConfigRefusalsSayWhatIsSo(t *testing.T) {
	base := "server: {name: h.example, data_dir: " + t.TempDir() + "}\nreceive_connectors: [{name: x, bindings: [\"127.0.0.1:25\"]}]\n"
	for _, tc := range []struct{ yaml, want, not string }{
		{base + "transport:\n  retry_schedule: [1m]\n  retry_jitter: 0\n  max_connections_per_destination: 1e1\n",
			"1e1 is a whole number written in exponent form: write it in digits (10)", "fraction"},
		{base + "transport:\n  retry_schedule: [1m]\n  max_connections_per_destination: 1.5\n",
			"1.5 is not a whole number (a fraction is refused, not rounded)", ""},
		{base + "transport:\n  retry_schedule: [1m]\n  message_expiration: 1h\n",
			"t.yaml:5: transport.delay_notification (4h0m0s, its default: the file does not set it) must be shorter than message_expiration (1h0m0s)", ""},
		{base + "transport:\n  retry_schedule: [1m]\n  message_expiration: 1h\n  delay_notification: 2h\n",
			"t.yaml:6: transport.delay_notification (2h0m0s) must be shorter", "default"},
		{base + "rc: &rc\n  retry_schedule: [1m]\ntransport:\n  <<: *rc\n",
			`YAML merge keys ("<<") are not supported`, ""},
	} {
		_, err := Parse([]byte(tc.yaml), "t.yaml")
		if err == nil || !strings.Contains(err.Error(), tc.want) || tc.not != "" && strings.Contains(err.Error(), tc.not) {
			t.Errorf("%s: %v\nwant %q", tc.yaml, err, tc.want)
		}
	}
}
