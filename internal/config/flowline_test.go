package config

import (
	"strings"
	"testing"
)

// A syntax error inside a flow collection ([...] or {...}) is reported
// at the line that holds it, not the one before (rt58 F5): yaml.v3
// counts that line from 0.
func TestFlowCollectionErrorLine(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"server:\n  name: mx.example.org\n  role: [x hub\n", "f.yaml:3: "},
		{"server:\n  name: mx.example.org\ntransport:\n  retry_schedule: [10s, 30s\n  retry_jitter: 0.1\n", "f.yaml:4: "},
		{"server:\n  name: mx.example.org\n  role: {x hub\n", "f.yaml:3: "},
	} {
		_, err := Parse([]byte(tc.file), "f.yaml")
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q: %v, want it at %q", tc.file, err, tc.want)
		}
	}
}
