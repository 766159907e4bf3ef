package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// SMTP-4, RT-8: a port umbra connects to is written one way, whatever
// the address is for: a leading zero is refused even where its octal
// and decimal readings agree (007), in CheckHostPort's words — as a
// smart host's and a redirect target's are — in mailbox.lmtp, a
// milter's inet:, a topology server's address (checkDialAddress), a
// dns.servers entry and ldap.url. They took "HOST:007" a smart host
// refuses.
func TestDialAddressPortLeadingZeroAsSmartHost(t *testing.T) {
	for _, a := range []string{"127.0.0.1:007", "[2001:db8::1]:01", "relay.example:00025"} {
		err := checkDialAddress(a)
		if err == nil || !strings.Contains(err.Error(), "leading zero") {
			t.Errorf("checkDialAddress(%q): %v, want the leading zero refused", a, err)
		}
		if CheckHostPort(a) == nil {
			t.Errorf("CheckHostPort(%q) took it", a)
		}
	}
	if err := checkDialAddress("127.0.0.1:7"); err != nil {
		t.Errorf("127.0.0.1:7: %v", err)
	}
	dir := t.TempDir()
	for _, tc := range []struct{ yaml, want string }{
		{"mailbox: {lmtp: \"127.0.0.1:007\"}\n", `umbra.yaml:5: mailbox.lmtp "127.0.0.1:007": the port 007 has a leading zero: write 7`},
		{"dns: {servers: [\"127.0.0.1:053\"]}\n", `umbra.yaml:5: dns.servers: "127.0.0.1:053"`},
		{"dns: {servers: [\"127.0.0.1:007\"]}\n", `umbra.yaml:5: dns.servers: "127.0.0.1:007": the port 007 has a leading zero: write 7`},
		{"ldap: {url: 'ldap://127.0.0.1:0389', base_dn: dc=x}\n", `umbra.yaml:5: ldap.url "ldap://127.0.0.1:0389"`},
		{"ldap: {url: 'ldap://127.0.0.1:007', base_dn: dc=x}\n", `umbra.yaml:5: ldap.url "ldap://127.0.0.1:007": the port 007 has a leading zero: write 7`},
	} {
		p := filepath.Join(dir, "umbra.yaml")
		os.WriteFile(p, []byte(ldapBase+tc.yaml), 0o600)
		_, err := Load(p)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v\nwant %q", strings.TrimSpace(tc.yaml), err, tc.want)
		}
	}
	if _, _, err := MilterAddress("inet:127.0.0.1:007"); err == nil || !strings.Contains(err.Error(), "leading zero") {
		t.Errorf("milter inet:127.0.0.1:007: %v", err)
	}
}
