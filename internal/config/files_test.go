package config

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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

// Without empties one file setting in a copy, leaving the configuration
// it was made from as it was; Partner names the other file of a pair;
// Place puts each of several joined FileErrors at its own line, and a
// placed error still holds its FileError (config check goes on without
// that setting).
func TestWithoutLeavesOriginal(t *testing.T) {
	dir := t.TempDir()
	c, err := Parse([]byte("server:\n  name: mx.a.test\n  data_dir: "+dir+"\nreceive_connectors:\n  - name: x\n    bindings: [\"127.0.0.1:25\"]\n"+
		"  - name: y\n    bindings: [\"127.0.0.1:26\"]\n    tls: {cert_file: /c, key_file: /k}\n"+
		"ldap:\n  url: ldap://127.0.0.1\n  base_dn: dc=x\n  ca_file: /ca\n"), filepath.Join(dir, "c.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	w, ok := c.Without("receive_connectors", 1, "tls", "key_file")
	if !ok || w.ReceiveConnectors[1].TLS.KeyFile != "" || w.ReceiveConnectors[1].TLS.CertFile != "/c" {
		t.Fatalf("Without: %v %+v", ok, w.ReceiveConnectors[1].TLS)
	}
	if c.ReceiveConnectors[1].TLS.KeyFile != "/k" {
		t.Fatalf("Without changed the original: %+v", c.ReceiveConnectors[1].TLS)
	}
	if _, ok := w.Without("receive_connectors", 1, "tls", "key_file"); ok {
		t.Error("Without of a setting already empty: ok")
	}
	for _, bad := range [][]any{{"receive_connectors", 5, "tls", "key_file"}, {"nothing"}, {"receive_connectors", 0, "name", "x"}} {
		if _, ok := c.Without(bad...); ok {
			t.Errorf("Without(%v): ok", bad)
		}
	}
	if p := Partner("receive_connectors", 1, "tls", "key_file"); fmt.Sprint(p) != fmt.Sprint([]any{"receive_connectors", 1, "tls", "cert_file"}) {
		t.Errorf("Partner of a key_file: %v", p)
	}
	if p := Partner("transport", "client_cert_file"); fmt.Sprint(p) != "[transport client_key_file]" {
		t.Errorf("Partner of client_cert_file: %v", p)
	}
	if p := Partner("dkim", "keys", 0, "key_file"); p != nil {
		t.Errorf("Partner of a DKIM key: %v", p)
	}
	ca := &FileError{Setting: []any{"ldap", "ca_file"}, Err: errors.New("ldap.ca_file /ca: bad")}
	key := &FileError{Setting: []any{"receive_connectors", 1, "tls", "key_file"}, Err: errors.New("key bad")}
	got := c.Place(errors.Join(ca, key))
	want := filepath.Join(dir, "c.yaml") + ":9: key bad\n" + filepath.Join(dir, "c.yaml") + ":13: ldap.ca_file /ca: bad"
	if got == nil || got.Error() != want {
		t.Errorf("Place(joined) = %v, want\n%s", got, want)
	}
	var fe *FileError
	if !errors.As(c.Place(ca), &fe) || fe != ca {
		t.Error("a placed error does not hold its FileError")
	}
}

// A file a setting names is read up to the limit of its kind, not
// whole: a CA file, a certificate or a key larger than its limit is
// refused at the setting's line with the limit named (rt34 F16). The
// files are sparse: a size, not memory.
func TestFilesReadUpToTheirLimit(t *testing.T) {
	dir := t.TempDir()
	cert, key := writePair(t, dir, "a")
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, 1<<30); err != nil {
		t.Fatal(err)
	}
	err := AppendCAFile(x509.NewCertPool(), big, "ldap", "ca_file")
	if err == nil || err.Error() != "ldap.ca_file "+big+": file too large: larger than the 16 MiB limit for a certificate file" {
		t.Errorf("a 1 GiB CA file: %v", err)
	}
	_, err = LoadKeyPair(cert, big, []any{"console", "cert_file"}, []any{"console", "key_file"})
	var fe *FileError
	if !errors.As(err, &fe) || fmt.Sprint(fe.Setting) != "[console key_file]" || !strings.Contains(err.Error(), "larger than the 1 MiB limit for a key file") {
		t.Errorf("a 1 GiB key file: %v", err)
	}
	_, err = LoadKeyPair(big, key, []any{"console", "cert_file"}, []any{"console", "key_file"})
	if !errors.As(err, &fe) || fmt.Sprint(fe.Setting) != "[console cert_file]" || !strings.Contains(err.Error(), "larger than the 16 MiB limit") {
		t.Errorf("a 1 GiB certificate file: %v", err)
	}
	if _, err := LoadKeyPair(cert, key, []any{"console", "cert_file"}, []any{"console", "key_file"}); err != nil {
		t.Errorf("a good pair: %v", err)
	}
	// Exactly at the limit is read; one byte more is not.
	at := filepath.Join(dir, "at")
	os.WriteFile(at, make([]byte, 100), 0o600)
	if b, err := ReadFileLimit(at, 100, "x"); err != nil || len(b) != 100 {
		t.Errorf("at the limit: %d bytes, %v", len(b), err)
	}
	if _, err := ReadFileLimit(at, 99, "x"); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over the limit: %v", err)
	}
}

// FileSetting reads a file setting's value by the path a FileError
// names: a setting left out (Without) reads empty, and a path that is no
// file setting is not one.
func TestFileSetting(t *testing.T) {
	dir := t.TempDir()
	c, err := Parse([]byte("server:\n  name: mx.a.test\n  data_dir: "+dir+"\nreceive_connectors:\n  - name: x\n    bindings: [\"127.0.0.1:25\"]\n    tls: {cert_file: /c, key_file: /k}\n"),
		filepath.Join(dir, "c.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if f, ok := c.FileSetting("receive_connectors", 0, "tls", "cert_file"); !ok || f != "/c" {
		t.Errorf("cert_file: %q %v", f, ok)
	}
	w, _ := c.Without("receive_connectors", 0, "tls", "cert_file")
	if f, ok := w.FileSetting("receive_connectors", 0, "tls", "cert_file"); !ok || f != "" {
		t.Errorf("cert_file left out: %q %v", f, ok)
	}
	if _, ok := c.FileSetting("receive_connectors", 3, "tls", "cert_file"); ok {
		t.Error("a connector that is not there: ok")
	}
}
