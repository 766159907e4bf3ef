package config

import (
	"strings"
	"testing"
)

// OPS-3: settings no session of a connector can use were accepted
// silently: rate_limits.user on a connector that offers no AUTH (no
// session is ever a user to count), and permissions.servers where no
// session can be a transport server (no AUTH for a server account, no
// client_ca_file for a certificate, not externally_secured). Each is
// refused at its line, as authOffSettings refuses its siblings.
func TestOPS3SettingsNoSessionCanUseRefused(t *testing.T) {
	base := `server: {name: hub.test}
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
mailbox: {maildir: md}
receive_connectors:
  - name: in
    bindings: ["127.0.0.150:10001"]
`
	for _, c := range []struct{ name, yaml, want string }{
		{"rate_limits.user", "    rate_limits:\n      user: {messages: 10, window: 1h}\n", "t.yaml:8: receive_connectors[0].rate_limits.user is set but auth.mechanisms is empty"},
		{"permissions.servers", "    permissions:\n      servers: [submit]\n", "t.yaml:8: receive_connectors[0].permissions.servers is set but no session of this connector can be a transport server"},
	} {
		_, err := Parse([]byte(base+c.yaml), "t.yaml")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	// Where a session can be one, permissions.servers stands.
	for _, extra := range []string{"    externally_secured: true\n", "    auth: {mechanisms: [PLAIN], credentials_file: creds, allow_insecure: true}\n"} {
		_, err := Parse([]byte(base+extra+"    permissions:\n      servers: [submit]\n"), "t.yaml")
		if err != nil && strings.Contains(err.Error(), "can be a transport server") {
			t.Errorf("%q: %v", extra, err)
		}
	}
}
