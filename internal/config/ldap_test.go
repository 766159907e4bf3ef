package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const ldapBase = `server: {name: a.example.test}
receive_connectors:
  - name: x
    bindings: ["127.0.0.1:25"]
`

// Each broken ldap section fails the load with its line.
func TestLDAPConfig(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct{ yaml, want string }{
		"scheme":     {"ldap: {url: http://x, base_dn: dc=x}\n", `umbra.yaml:5: ldap.url "http://x"`},
		"userinfo":   {"ldap: {url: 'ldap://user:pw@127.0.0.1', base_dn: dc=x}\n", "umbra.yaml:5: ldap.url: want ldap://host[:port] or ldaps://host[:port] only, without user:password"},
		"user only":  {"ldap: {url: 'ldap://user@127.0.0.1', base_dn: dc=x}\n", "umbra.yaml:5: ldap.url: want"},
		"path":       {"ldap: {url: 'ldap://127.0.0.1/dc=x', base_dn: dc=x}\n", "umbra.yaml:5: ldap.url"},
		"query":      {"ldap: {url: 'ldap://127.0.0.1/?uid', base_dn: dc=x}\n", "umbra.yaml:5: ldap.url"},
		"query bare": {"ldap: {url: 'ldap://127.0.0.1?x', base_dn: dc=x}\n", "umbra.yaml:5: ldap.url"},
		"no base":    {"ldap: {url: ldap://127.0.0.1}\n", "umbra.yaml:5: ldap.base_dn is required"},
		"bad base":   {"ldap:\n  url: ldap://127.0.0.1\n  base_dn: notadn\n", "umbra.yaml:7: ldap.base_dn"},
		"starttls":   {"ldap: {url: ldaps://d.example, base_dn: dc=x, start_tls: true}\n", "ldap.start_tls is for ldap:// URLs"},
		"no %s":      {"ldap: {url: ldap://127.0.0.1, base_dn: dc=x, recipient_filter: (mail=x)}\n", "ldap.recipient_filter must contain %s"},
		"bad filter": {"ldap:\n  url: ldap://127.0.0.1\n  base_dn: dc=x\n  account_filter: (uid=%s\n", "umbra.yaml:8: ldap.account_filter"},
		"bind no pw": {"ldap: {url: ldap://127.0.0.1, base_dn: dc=x, bind_dn: cn=u}\n", "ldap.bind_dn needs bind_password_file"},
		"clear text": {"ldap: {url: ldap://d.example, base_dn: dc=x, account_filter: (uid=%s)}\n", "ldap.account_filter sends passwords"},
		// rt28d F1's sibling: the service account's own bind is a login
		// too, and its password never goes in clear text beyond this host.
		"clear bind":     {"ldap: {url: ldap://d.example, base_dn: dc=x, bind_dn: cn=u, bind_password_file: pw}\n", "ldap.bind_dn sends the service account's password"},
		"substring only": {"ldap: {url: ldap://127.0.0.1, base_dn: dc=x, recipient_filter: \"(mail=%s*)\"}\n", "ldap.recipient_filter needs an equality item holding %s"},
		"approx only":    {"ldap: {url: ldap://127.0.0.1, base_dn: dc=x, account_filter: \"(uid~=%s)\"}\n", "ldap.account_filter needs an equality item holding %s"},
		"server alone":   {"ldap: {url: ldap://127.0.0.1, base_dn: dc=x, server_account_filter: (a=b)}\n", "server_account_filter needs account_filter"},
		"attr":           {"ldap: {url: ldap://127.0.0.1, base_dn: dc=x, database_attribute: 'a b'}\n", "not an attribute name"},
		"auth no ldap":   {"", "auth.ldap needs the ldap section"},
		"unknown key":    {"ldap: {url: ldap://127.0.0.1, base_dn: dc=x, password: x}\n", "password"},
	} {
		t.Run(name, func(t *testing.T) {
			y := ldapBase + tc.yaml
			if name == "auth no ldap" {
				y = ldapBase + "    auth: {mechanisms: [PLAIN], ldap: true}\n"
			}
			p := filepath.Join(dir, "umbra.yaml")
			os.WriteFile(p, []byte(y), 0o600)
			_, err := Load(p)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestLDAPConfigDefaultsAndPaths(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "umbra.yaml")
	os.WriteFile(p, []byte(ldapBase+`    auth: {mechanisms: [PLAIN], ldap: true, allow_insecure: true}
ldap:
  url: ldaps://dir.example.test
  base_dn: dc=example,dc=test
  bind_dn: cn=umbra,dc=example,dc=test
  bind_password_file: ldap.pw
  ca_file: ca.pem
  account_filter: (uid=%s)
`), 0o600)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	l := c.LDAP
	if l.RecipientFilter != DefaultLDAPRecipientFilter || l.Timeout.D() != DefaultLDAPTimeout || l.PositiveTTL.D() != 10*time.Minute ||
		l.NegativeTTL.D() != time.Minute || l.CacheSize != DefaultLDAPCacheSize {
		t.Fatalf("defaults not applied: %+v", l)
	}
	if l.BindPasswordFile != filepath.Join(dir, "ldap.pw") || l.CAFile != filepath.Join(dir, "ca.pem") {
		t.Fatalf("paths not resolved: %q %q", l.BindPasswordFile, l.CAFile)
	}
}

// The directory is a directory source: a directory-validated domain
// with only the ldap section is a valid configuration.
func TestLDAPIsADirectorySource(t *testing.T) {
	p := filepath.Join(t.TempDir(), "umbra.yaml")
	os.WriteFile(p, []byte(`server: {name: a.example.test, role: edge}
accepted_domains: [{domain: example.test, type: internal_relay, recipient_validation: directory}]
receive_connectors:
  - name: x
    bindings: ["127.0.0.1:25"]
send_connectors:
  - {name: out, address_spaces: [{domain: example.test, cost: 1}], smart_hosts: ["127.0.0.2:25"], tls: none}
ldap: {url: "ldap://127.0.0.1", base_dn: "dc=x"}
`), 0o600)
	if _, err := Load(p); err != nil {
		t.Fatal(err)
	}
}

// A host name is never taken as a loopback address for clear-text
// ldap:// (rt42-edge minor): only localhost and a literal loopback
// address are, whatever dns.hosts_file maps a name to — that file is
// read again while umbra runs, and the check is the configuration's.
// The refusal says so, at bind_dn's line (account_filter's the same).
func TestLDAPClearTextHostNameNeverLoopback(t *testing.T) {
	dir := t.TempDir()
	hosts := filepath.Join(dir, "hosts")
	os.WriteFile(hosts, []byte("127.0.0.1 dir.lan\n"), 0o600)
	for _, key := range []string{"bind_dn", "account_filter"} {
		setting := map[string]string{"bind_dn": "  bind_dn: cn=u\n  bind_password_file: pw\n", "account_filter": "  account_filter: (uid=%s)\n"}[key]
		y := ldapBase + "dns:\n  hosts_file: " + hosts + "\nldap:\n  url: ldap://dir.lan\n  base_dn: dc=x\n" + setting
		p := filepath.Join(dir, "umbra.yaml")
		os.WriteFile(p, []byte(y), 0o600)
		_, err := Load(p)
		line := 1 + strings.Count(y[:strings.Index(y, "  "+key+":")], "\n")
		want := fmt.Sprintf("umbra.yaml:%d: ldap.%s sends", line, key)
		if err == nil || !strings.Contains(err.Error(), want) ||
			!strings.Contains(err.Error(), "only to localhost or a literal loopback address: a host name such as dir.lan is never taken as one, whatever dns.hosts_file maps it to") {
			t.Errorf("%s: error %v, want %q and the loopback rule", key, err, want)
		}
	}
}
