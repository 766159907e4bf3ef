package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writePair writes a self-signed certificate and its key under dir.
func writePair(t *testing.T, dir, name string) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return cert, key
}

// A certificate or key that does not load is an error naming the
// setting, the file and its line, like every other error (rt22 F2).
func TestKeyPairErrorsHaveLines(t *testing.T) {
	dir := t.TempDir()
	cert, key := writePair(t, dir, "a")
	_, other := writePair(t, dir, "b")
	conf := func(c, k string) string {
		return "server:\n  name: mx.a.test\n  data_dir: " + dir + "\nreceive_connectors:\n  - name: x\n    bindings: [\"127.0.0.1:25\"]\n" +
			"    tls:\n      cert_file: " + c + "\n      key_file: " + k + "\n"
	}
	for _, tc := range []struct {
		name, cert, key string
		line            int
		msg             string
	}{
		{"good", cert, key, 0, ""},
		{"certificate as key", cert, cert, 9, "receive_connectors[0].tls.key_file " + cert},
		{"key of another certificate", cert, other, 9, "does not match the certificate of cert_file " + cert},
		{"key as certificate", key, key, 8, "receive_connectors[0].tls.cert_file " + key},
	} {
		c, err := Parse([]byte(conf(tc.cert, tc.key)), filepath.Join(dir, "k.yaml"))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		rc := c.ReceiveConnectors[0].TLS
		_, err = LoadKeyPair(rc.CertFile, rc.KeyFile, []any{"receive_connectors", 0, "tls", "cert_file"},
			[]any{"receive_connectors", 0, "tls", "key_file"})
		if tc.line == 0 {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		e, ok := c.Place(err).(*Error)
		if !ok || e.Line != tc.line || !strings.Contains(e.Msg, tc.msg) {
			t.Errorf("%s: want an error at line %d containing %q, got\n%v", tc.name, tc.line, tc.msg, err)
		}
	}
}
