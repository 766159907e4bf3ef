package config

import (
	"crypto/x509"
	"path/filepath"
	"testing"
)

// A CA file is loaded by one rule, AppendCAFile: a missing file or one
// without a certificate is a FileError that Place puts at its setting's
// line; a certificate loads.
func TestAppendCAFilePlacesItsError(t *testing.T) {
	dir := t.TempDir()
	cert, key := writePair(t, dir, "a")
	conf := func(ca string) *Config {
		c, err := Parse([]byte("server:\n  name: mx.a.test\n  data_dir: "+dir+"\nreceive_connectors:\n  - name: x\n    bindings: [\"127.0.0.1:25\"]\nldap:\n  url: ldap://127.0.0.1\n  base_dn: dc=x\n  ca_file: "+ca+"\n"),
			filepath.Join(dir, "c.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	missing := filepath.Join(dir, "missing")
	for _, tc := range []struct{ name, file, want string }{
		{"certificate", cert, ""},
		{"key", key, "c.yaml:10: ldap.ca_file " + key + ": no PEM certificate"},
		{"missing", missing, "c.yaml:10: ldap.ca_file " + missing + ": no such file or directory"},
	} {
		c := conf(tc.file)
		err := AppendCAFile(x509.NewCertPool(), c.LDAP.CAFile, "ldap", "ca_file")
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if got := c.Place(err); got == nil || got.Error() != filepath.Join(dir, tc.want) {
			t.Errorf("%s: %v, want %s", tc.name, got, filepath.Join(dir, tc.want))
		}
	}
}
