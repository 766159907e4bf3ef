package config

import (
	"strings"
	"testing"
)

// OPS-3: further cross-key checks that read a second key (console's
// allow_remote, ldap's start_tls, message_authentication's arc) are not
// made while that key did not parse: the error is the failed key's, not
// a written key blamed for its default.
func TestOPS3MoreCrossKeyChecksSkipAValueThatDidNotParse(t *testing.T) {
	base := `server: {name: hub.test}
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
mailbox: {maildir: md}
receive_connectors:
  - name: in
    bindings: ["127.0.0.130:8130"]
`
	for _, c := range []struct{ name, yaml, notWant string }{
		{"console.allow_remote", base + `console: {listen: "192.0.2.1:38131", allow_remote: [x]}
`, "is not a loopback address"},
		{"ldap.start_tls bind_dn", base + `ldap: {url: "ldap://192.0.2.2:389", base_dn: "dc=example,dc=test", bind_dn: "cn=u", bind_password_file: pw, start_tls: [x]}
`, "ldap.bind_dn sends"},
		{"ldap.start_tls account_filter", base + `ldap: {url: "ldap://192.0.2.2:389", base_dn: "dc=example,dc=test", account_filter: "(uid=%s)", start_tls: [x]}
`, "ldap.account_filter sends"},
		{"message_authentication.arc", base + `message_authentication: {arc: [x], trusted_arc_sealers: [sealer.example]}
`, "trusted_arc_sealers needs arc"},
	} {
		_, err := Parse([]byte(c.yaml), "t.yaml")
		if err == nil {
			t.Errorf("%s: loaded", c.name)
			continue
		}
		if strings.Contains(err.Error(), c.notWant) {
			t.Errorf("%s: a cross-key check ran on a value that did not parse, blaming a written key:\n%v", c.name, err)
		}
	}
}
