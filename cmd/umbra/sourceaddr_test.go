package main

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// rt25 F1: an outbound source address this machine does not have is
// refused at its line by config check and serve, as a listener is — not
// by the bind error of delivery's start without file or line under the
// summary "a file it names is not valid" — and the summary says what is
// wrong.
func TestSourceAddressNotHereRefusedAtItsLine(t *testing.T) {
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_nonlocal_bind"); err != nil || strings.TrimSpace(string(b)) != "0" {
		t.Skip("this system binds addresses it does not have: nothing to refuse")
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		name, server, connector, want string
	}{
		{"server", "192.0.2.55", "", "server.yaml:1: server.source_address 192.0.2.55 is not an address of this machine"},
		{"connector", "", "192.0.2.56", "connector.yaml:12: send_connectors[0].source_address 192.0.2.56 is not an address of this machine"},
	} {
		cfg := filepath.Join(dir, tc.name+".yaml")
		data := filepath.Join(dir, tc.name+"-data")
		os.WriteFile(cfg, []byte(fmt.Sprintf(`server: {name: hub.src.test, data_dir: %s, metrics_listen: "", source_address: %q}
accepted_domains: [{domain: src.test, type: authoritative, recipient_validation: "off"}]
mailbox: {maildir: maildir}
receive_connectors:
  - name: in
    bindings: ["127.0.0.1:0"]
    remote_ranges: ["127.0.0.0/8"]
send_connectors:
  - name: out
    address_spaces: [{domain: "*", cost: 1}]
    smart_hosts: [relay.src.test]
    source_address: %q
`, data, tc.server, tc.connector)), 0o600)
		summary := cfg + " binds outbound connections to an address this machine does not have"
		for _, args := range [][]string{{"config", "check", cfg}, {"serve", "--config", cfg}} {
			out, err := exec.Command(umbraBin, args...).CombinedOutput()
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != exitConfig || !strings.Contains(string(out), tc.want) || !strings.Contains(string(out), summary) ||
				strings.Contains(string(out), "a file it names") {
				t.Errorf("%s: %s: %v\n%s\nwant exit %d, %s and %s", tc.name, args[0], err, out, exitConfig, tc.want, summary)
			}
		}
		if _, err := os.Stat(data); !os.IsNotExist(err) {
			t.Errorf("%s: a refused start left the data directory %s", tc.name, data)
		}
	}
}

// rt25 F1's siblings: a file a setting names whose content does not do
// (an LDAP CA file without a certificate, an empty LDAP password file, a
// DKIM key file without a key or with a key of no DKIM algorithm, an ARC
// sealing key that is not RSA) is refused at the setting's line, in
// words, under the summary that a file it names is not valid.
func TestFileContentRefusedAtItsLine(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	os.WriteFile(garbage, []byte("not a pem file\n"), 0o600)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o600)
	ecKey := filepath.Join(dir, "ec.key")
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	os.WriteFile(ecKey, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	edKey := filepath.Join(dir, "ed.key")
	_, ek, _ := ed25519.GenerateKey(rand.Reader)
	der, _ = x509.MarshalPKCS8PrivateKey(ek)
	os.WriteFile(edKey, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	for _, tc := range []struct {
		name, section, want string
	}{
		{"ldapca", "ldap:\n  url: ldap://127.0.0.1:1\n  base_dn: dc=a,dc=test\n  ca_file: " + garbage + "\n",
			"ldapca.yaml:11: ldap.ca_file " + garbage + ": no certificate in it"},
		{"ldappw", "ldap:\n  url: ldap://127.0.0.1:1\n  base_dn: dc=a,dc=test\n  bind_dn: cn=u\n  bind_password_file: " + empty + "\n",
			"ldappw.yaml:12: ldap.bind_password_file " + empty + " is empty"},
		{"dkimpem", "dkim:\n  keys:\n    - {domain: src.test, selector: s1,\n       key_file: " + garbage + "}\n",
			"dkimpem.yaml:11: dkim.keys[0] src.test (selector s1): key_file: " + garbage + ": no PEM block"},
		{"dkimec", "dkim:\n  keys:\n    - domain: src.test\n      selector: s1\n      key_file: " + ecKey + "\n",
			"dkimec.yaml:12: dkim.keys[0] src.test (selector s1): key_file: " + ecKey + ": ECDSA keys have no DKIM algorithm"},
		{"arc", "dkim:\n  arc:\n    domain: src.test\n    selector: a1\n    key_file: " + edKey + "\n",
			"arc.yaml:12: dkim.arc src.test (selector a1): key_file: " + edKey + ": the sealing key must be RSA"},
	} {
		cfg := filepath.Join(dir, tc.name+".yaml")
		os.WriteFile(cfg, []byte(fmt.Sprintf(`server: {name: hub.src.test, data_dir: %s, metrics_listen: ""}
accepted_domains: [{domain: src.test, type: authoritative, recipient_validation: "off"}]
mailbox: {maildir: maildir}
receive_connectors:
  - name: in
    bindings: ["127.0.0.1:0"]
    remote_ranges: ["127.0.0.0/8"]
%s`, filepath.Join(dir, tc.name+"-data"), tc.section)), 0o600)
		out, err := exec.Command(umbraBin, "config", "check", cfg).CombinedOutput()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != exitConfig || !strings.Contains(string(out), tc.want) ||
			!strings.Contains(string(out), cfg+": a file it names is not valid") || strings.Contains(string(out), "*ecdsa") {
			t.Errorf("%s: config check: %v\n%s\nwant exit %d and %s", tc.name, err, out, exitConfig, tc.want)
		}
	}
}
