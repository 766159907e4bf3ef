package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// SMTP-4, RT-8: an address umbra connects to (a topology server's, an
// LMTP address, a milter's inet: address) names no IPv6 zone — the same
// refusal as a smart host's (mailaddr.SplitHostPort): a zone is an
// interface of one machine. Listeners may bind a link-local address
// with its zone.
func TestDialAddressRefusesZone(t *testing.T) {
	for _, a := range []string{"[fe80::1%eth0]:25", "[fe80::1%25eth0]:2525"} {
		if err := checkDialAddress(a); err == nil || !strings.Contains(err.Error(), "without a zone (%)") {
			t.Errorf("checkDialAddress(%q): %v, want the zone refused", a, err)
		}
	}
	if _, _, err := MilterAddress("inet:[fe80::1%eth0]:8891"); err == nil || !strings.Contains(err.Error(), "without a zone (%)") {
		t.Errorf("milter inet: with a zone: %v", err)
	}
	if err := checkDialAddress("[fe80::1]:25"); err != nil {
		t.Errorf("checkDialAddress without a zone: %v", err)
	}
	if err := checkHostPort("[fe80::1%eth0]:25"); err != nil {
		t.Errorf("a listener's link-local address with its zone: %v", err)
	}
}

// EDGE-1: ldap.url names a server umbra connects to, so its host
// follows the rule of every such address (checkDialAddress, a smart
// host, dns.servers): an IPv6 address with a zone is refused at its line
// when the file loads, not taken and dialled through one machine's
// interface.
func TestLDAPURLRefusesZone(t *testing.T) {
	dir := t.TempDir()
	for _, u := range []string{"ldap://[fe80::1%25eth0]:389", "ldaps://[fe80::1%25eth0]", "ldap://[fe80::1%25lo]:389"} {
		p := filepath.Join(dir, "umbra.yaml")
		os.WriteFile(p, []byte(ldapBase+"ldap: {url: '"+u+"', base_dn: dc=x}\n"), 0o600)
		_, err := Load(p)
		if err == nil || !strings.Contains(err.Error(), "umbra.yaml:5: ldap.url") || !strings.Contains(err.Error(), "without a zone (%)") {
			t.Errorf("ldap.url %s: %v, want the zone refused at its line", u, err)
		}
	}
	p := filepath.Join(dir, "umbra.yaml")
	os.WriteFile(p, []byte(ldapBase+"ldap: {url: 'ldap://[fe80::1]:389', base_dn: dc=x}\n"), 0o600)
	if _, err := Load(p); err != nil {
		t.Errorf("ldap.url without a zone: %v", err)
	}
}
