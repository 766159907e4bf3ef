package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Every file a setting names is loaded and checked as serve uses it, by
// config check and by serve before it creates anything in data_dir,
// each error at the setting's file:line (rt25 F8, F1): a CA file
// without a certificate, an empty password file, a DKIM or ARC key of
// the wrong kind.
func TestConfigCheckLoadsNamedFileContents(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	empty := write("empty.pem", "", 0o600)
	garbage := write("garbage.pem", "garbage\n", 0o600)
	emptyPW := write("empty.pw", "\n", 0o600)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(ec)
	ecKey := write("ec.key", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), 0o600)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	der, _ = x509.MarshalPKCS8PrivateKey(ed)
	edKey := write("ed.key", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), 0o600)

	for _, tc := range []struct {
		name, yaml string
		want       string // after file:line
	}{
		{"outbound ca empty", "outbound_tls:\n  ca_file: " + empty + "\n", "outbound_tls.ca_file " + empty + ": no PEM certificate"},
		{"outbound ca garbage", "outbound_tls:\n  ca_file: " + garbage + "\n", "outbound_tls.ca_file " + garbage + ": no PEM certificate"},
		{"outbound ca is a key", "outbound_tls:\n  ca_file: " + ecKey + "\n", "outbound_tls.ca_file " + ecKey + ": no PEM certificate"},
		{"ldap ca", "ldap:\n  url: ldap://127.0.0.1:9\n  base_dn: dc=x\n  ca_file: " + garbage + "\n", "ldap.ca_file " + garbage + ": no PEM certificate"},
		{"ldap password", "ldap:\n  url: ldap://127.0.0.1:9\n  base_dn: dc=x\n  bind_dn: cn=x\n  bind_password_file: " + emptyPW + "\n", "ldap.bind_password_file " + emptyPW + " is empty"},
		{"dkim garbage", "dkim:\n  keys:\n    - {domain: example.test, selector: s, key_file: " + garbage + "}\n", "key_file: " + garbage + ": no PEM block"},
		{"dkim ecdsa", "dkim:\n  keys:\n    - {domain: example.test, selector: s, key_file: " + ecKey + "}\n", "ECDSA keys have no DKIM algorithm"},
		{"arc ed25519", "dkim:\n  arc:\n    domain: example.test\n    selector: s\n    key_file: " + edKey + "\n", "the sealing key must be RSA"},
		{"send password", "", "send_connectors[1].auth.password_file " + emptyPW + " is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sub := t.TempDir()
			cfg := relayConfig(t, sub, freeAddr(t, "127.0.0.1"), "127.0.0.1:9")
			data, _ := os.ReadFile(cfg)
			text := string(data) + tc.yaml
			if tc.name == "send password" {
				text = strings.Replace(text, "mailbox:\n", "  - name: submit\n    address_spaces: [{domain: \"x.test\", cost: 1}]\n    smart_hosts: [\"127.0.0.1:9\"]\n    tls: required\n"+
					"    auth: {username: u, password_file: "+emptyPW+"}\nmailbox:\n", 1)
			}
			os.WriteFile(cfg, []byte(text), 0o600)
			re := regexp.MustCompile(regexp.QuoteMeta(cfg) + `:\d+: .*` + regexp.QuoteMeta(tc.want))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, umbraBin, "config", "check", cfg).CombinedOutput()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitConfig || !re.Match(out) {
				t.Errorf("config check: %v, want exit %d and %q\n%s", err, exitConfig, re, out)
			}
			out, err = exec.CommandContext(ctx, umbraBin, "serve", "--config", cfg).CombinedOutput()
			if err == nil || !re.Match(out) {
				t.Errorf("serve: %v, want %q\n%s", err, re, out)
			}
			if _, err := os.Stat(filepath.Join(sub, "data", "queue.db")); err == nil {
				t.Errorf("serve refused the configuration after creating queue.db")
			}
		})
	}
}
