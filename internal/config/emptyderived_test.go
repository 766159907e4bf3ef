package config

import (
	"fmt"
	"strings"
	"testing"
)

// OPS-3: a string key whose empty value derives a default at use (the
// console's certificate, key and credentials from the first receive
// connector's, the authserv-ids from server.name, the TLS-RPT
// organisation and contact) took an explicit "" as leaving the key out,
// silently — the rule of every other key (zerovalues.go) is that a zero
// written is a setting of its own or an error at its line.
func TestOPS3ExplicitEmptyDerivedStringsRefusedAtTheirLine(t *testing.T) {
	base := `server: {name: hub.test}
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
mailbox: {maildir: md}
`
	for _, c := range []struct{ key, yaml string }{
		{"console.cert_file", "console:\n  listen: \"127.0.0.150:10002\"\n  cert_file: \"\"\n"},
		{"console.key_file", "console:\n  listen: \"127.0.0.150:10002\"\n  key_file: \"\"\n"},
		{"console.credentials_file", "console:\n  listen: \"127.0.0.150:10002\"\n  credentials_file: \"\"\n"},
		{"receive_connectors[0].message_authentication.authserv_id", "receive_connectors:\n  - name: in\n    bindings: [\"127.0.0.150:10001\"]\n    message_authentication:\n      authserv_id: \"\"\n"},
		{"dkim.arc.authserv_id", "dkim:\n  arc:\n    authserv_id: \"\"\n"},
		{"outbound_tls.tls_rpt.organization", "outbound_tls:\n  tls_rpt:\n    organization: \"\"\n"},
		{"outbound_tls.tls_rpt.contact", "outbound_tls:\n  tls_rpt:\n    contact: \"\"\n"},
	} {
		y := base + c.yaml
		if !strings.HasPrefix(c.key, "receive_connectors") {
			y += "receive_connectors: [{name: in, bindings: [\"127.0.0.150:10001\"]}]\n"
		}
		line := 0
		for i, l := range strings.Split(y, "\n") {
			if strings.HasSuffix(l, `: ""`) {
				line = i + 1
			}
		}
		_, err := Parse([]byte(y), "t.yaml")
		want := fmt.Sprintf("t.yaml:%d: %s: \"\" is refused", line, c.key)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: \"\" written: %v, want %q", c.key, err, want)
		}
	}
}
