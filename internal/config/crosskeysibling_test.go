package config

import (
	"strings"
	"testing"
)

// OPS-3: cross-key checks left as v.add (no reads) still
// run when the key they compare with did not parse, blaming a written
// key for the default the failed one fell back to — the very mistake
// violation.reads fixes for its siblings (README: "a check that
// compares two keys … is not made while one of them did not parse").
func TestOPS3CrossKeySiblingsSkipAValueThatDidNotParse(t *testing.T) {
	base := `server: {name: hub.test}
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
mailbox: {maildir: md}
`
	for _, c := range []struct{ name, yaml, notWant string }{
		{"send connector tls", base + `receive_connectors:
  - name: in
    bindings: ["127.0.0.213:15213"]
send_connectors:
  - name: out
    address_spaces: [{domain: "*"}]
    smart_hosts: ["127.0.0.214"]
    tls: [required]
    auth: {username: u, password_file: pw}
`, "auth to a smart host needs tls"},
		{"ldap.account_filter", base + `ldap: {url: "ldap://127.0.0.1:389", base_dn: "dc=example,dc=test", account_filter: [x]}
receive_connectors:
  - name: in
    bindings: ["127.0.0.213:15213"]
    auth: {mechanisms: [PLAIN], ldap: true, allow_insecure: true}
`, "auth.ldap needs ldap.account_filter"},
		{"ldap section", base + `ldap: [x]
receive_connectors:
  - name: in
    bindings: ["127.0.0.213:15213"]
    auth: {mechanisms: [PLAIN], ldap: true, allow_insecure: true}
`, "auth.ldap needs the ldap section"},
		{"recipients.file", `server: {name: hub.test}
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: directory}]
mailbox: {maildir: md}
recipients: {file: [users]}
receive_connectors:
  - name: in
    bindings: ["127.0.0.213:15213"]
`, "is validated by directory but no directory is configured"},
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
