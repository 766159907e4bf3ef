package config

import (
	"strings"
	"testing"
)

// A receive connector's auth settings that only mean something when
// AUTH is offered are refused at their line when auth.mechanisms is left
// out, ~ or []: AUTH is then off, and a credentials file, an LDAP login,
// allow_insecure or authenticated rights do nothing — EHLO offers no
// AUTH and no session is ever authenticated (SPEC SMTP-5/OPS config:
// no setting silently made dead by another).
func TestAuthSettingsWithoutMechanismsAreRefused(t *testing.T) {
	const base = `server: {name: a.example.test}
accepted_domains: [{domain: example.test, recipient_validation: "off"}]
mailbox: {maildir: md}
receive_connectors:
  - name: submit
    bindings: ["127.0.0.160:12587"]
    auth:
      credentials_file: creds
      allow_insecure: true
MECH    permissions:
      authenticated: [submit, relay]
`
	for _, mech := range []string{"", "      mechanisms: ~\n", "      mechanisms: []\n"} {
		_, err := Parse([]byte(strings.Replace(base, "MECH", mech, 1)), "a.yaml")
		if err == nil {
			t.Errorf("mechanisms %q: loaded with AUTH off and a credentials file", mech)
			continue
		}
		permsLine := "a.yaml:11: "
		if mech != "" {
			permsLine = "a.yaml:12: "
		}
		for _, want := range []string{
			"a.yaml:8: receive_connectors[0].auth.credentials_file is set but auth.mechanisms is empty",
			"a.yaml:9: receive_connectors[0].auth.allow_insecure is set but auth.mechanisms is empty",
			permsLine + "receive_connectors[0].permissions.authenticated is set but auth.mechanisms is empty",
		} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("mechanisms %q: errors\n%v\nwant %q", mech, err, want)
			}
		}
	}
	// auth.ldap alike (the ldap section itself is checked apart).
	_, err := Parse([]byte(`server: {name: a.example.test}
accepted_domains: [{domain: example.test, recipient_validation: "off"}]
mailbox: {maildir: md}
ldap: {url: "ldap://127.0.0.160:12389", base_dn: "dc=example,dc=test", account_filter: "(uid=%s)"}
receive_connectors:
  - name: submit
    bindings: ["127.0.0.160:12587"]
    auth: {ldap: true}
`), "l.yaml")
	if err == nil || !strings.Contains(err.Error(), "l.yaml:8: receive_connectors[0].auth.ldap is set but auth.mechanisms is empty") {
		t.Errorf("auth.ldap without mechanisms: %v", err)
	}
	// With mechanisms, all of it loads.
	if _, err := Parse([]byte(strings.Replace(base, "MECH", "      mechanisms: [PLAIN, LOGIN]\n", 1)), "a.yaml"); err != nil {
		t.Errorf("with mechanisms: %v", err)
	}
}

// Siblings of TestAuthSettingsWithoutMechanismsAreRefused: other
// settings made dead by another one, each refused at its line — a
// receive connector's limits.max_auth_failures where it offers no AUTH
// (no login to fail). (A send
// connector's mx_address_limit or mx_session_limit on one that sends to
// smart hosts is warned of by config check: mxlimitcheck.go.)
func TestSettingsMadeDeadByAnotherAreRefused(t *testing.T) {
	_, err := Parse([]byte(`server: {name: a.example.test}
accepted_domains: [{domain: example.test, recipient_validation: "off"}]
mailbox: {maildir: md}
receive_connectors:
  - name: submit
    bindings: ["127.0.0.160:12587"]
    limits: {max_auth_failures: 2}
send_connectors:
  - name: out
    address_spaces: [{domain: "*", cost: 1}]
`), "d.yaml")
	for _, want := range []string{
		"d.yaml:7: receive_connectors[0].limits.max_auth_failures is set but auth.mechanisms is empty",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("errors\n%v\nwant %q", err, want)
		}
	}
	// With AUTH offered, all of it loads.
	if _, err := Parse([]byte(`server: {name: a.example.test}
accepted_domains: [{domain: example.test, recipient_validation: "off"}]
mailbox: {maildir: md}
receive_connectors:
  - name: submit
    bindings: ["127.0.0.160:12587"]
    auth: {mechanisms: [PLAIN], credentials_file: creds, allow_insecure: true}
    limits: {max_auth_failures: 2}
    rate_limits: {user: {messages: 100}}
send_connectors:
  - name: out
    address_spaces: [{domain: "*", cost: 1}]
    mx_address_limit: 3
    mx_session_limit: 1
`), "d.yaml"); err != nil {
		t.Errorf("meaningful settings refused: %v", err)
	}
}
