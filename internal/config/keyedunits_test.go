package config

import (
	"strings"
	"testing"
)

// OPS (config check): an error in a duration or a size names the key it
// is the value of, as every other setting's error does ("dns.timeout:
// 0s is refused: …"): "t.yaml:4: dns.timeout: negative duration "-2s"",
// never only the line and the parser's words ("t.yaml:4: negative
// duration "-2s"", which left the operator to count lines), at every
// depth: a section's key, an LDAP setting, a milter's in a connector's
// list, a size.
func TestDurationAndSizeErrorsNameTheKey(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"dns:\n  timeout: -2s\n", `t.yaml:3: dns.timeout: negative duration "-2s"`},
		{"ldap:\n  timeout: -3s\n", `t.yaml:3: ldap.timeout: negative duration "-3s"`},
		{"ldap:\n  positive_ttl: -20s\n", `t.yaml:3: ldap.positive_ttl: negative duration "-20s"`},
		{"transport:\n  max_header_size: 12XB\n", `t.yaml:3: transport.max_header_size: invalid size "12XB"`},
		{"transport:\n  max_header_size: [1]\n", `t.yaml:3: transport.max_header_size: `},
		{"receive_connectors:\n  - name: in\n    bindings: [\"127.0.0.127:10530\"]\n    milters:\n      - {name: m, address: \"inet:127.0.0.127:10531\", eom_timeout: -5s}\n",
			`t.yaml:6: receive_connectors[0].milters[0].eom_timeout: negative duration "-5s"`},
	} {
		_, err := Parse([]byte("server: {name: mx.test}\n"+tc.yaml), "t.yaml")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q:\n got %v\nwant %s", tc.yaml, err, tc.want)
		}
	}
}
