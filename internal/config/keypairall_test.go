package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Each file of a pair is checked on its own as far as it can be: a
// certificate and a key that are both bad are both reported in one run
// (a size limit, a file that holds no certificate, a missing file), not
// only the first.
func TestKeyPairReportsBothFiles(t *testing.T) {
	dir := t.TempDir()
	cert, key := writePair(t, dir, "a")
	bigCert, bigKey := filepath.Join(dir, "big.crt"), filepath.Join(dir, "big.key")
	os.WriteFile(bigCert, nil, 0o600)
	os.Truncate(bigCert, MaxCertFileSize+1)
	os.WriteFile(bigKey, nil, 0o600)
	os.Truncate(bigKey, MaxKeyFileSize+1)
	garbage := filepath.Join(dir, "garbage")
	os.WriteFile(garbage, []byte("garbage\n"), 0o600)
	missing := filepath.Join(dir, "missing")
	certAt, keyAt := []any{"console", "cert_file"}, []any{"console", "key_file"}
	for _, tc := range []struct {
		name, cert, key string
		want            []string // one error each, in this order
	}{
		{"both too large", bigCert, bigKey, []string{"console.cert_file " + bigCert + ": file too large", "console.key_file " + bigKey + ": file too large"}},
		{"no certificate, key too large", garbage, bigKey, []string{"console.cert_file " + garbage + ":", "console.key_file " + bigKey + ": file too large"}},
		{"certificate too large, no key", bigCert, garbage, []string{"console.cert_file " + bigCert + ": file too large", "console.key_file " + garbage + ":"}},
		{"certificate missing, key too large", missing, bigKey, []string{"console.cert_file " + missing + ": no such file", "console.key_file " + bigKey + ": file too large"}},
		{"certificate missing, key a certificate", missing, cert, []string{"console.cert_file " + missing + ": no such file", "console.key_file " + cert + ":"}},
		{"key too large alone", cert, bigKey, []string{"console.key_file " + bigKey + ": file too large"}},
		{"good", cert, key, nil},
	} {
		_, err := LoadKeyPair(tc.cert, tc.key, certAt, keyAt)
		fes := []error{}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			fes = j.Unwrap()
		} else if err != nil {
			fes = append(fes, err)
		}
		if len(fes) != len(tc.want) {
			t.Errorf("%s: %d errors, want %d: %v", tc.name, len(fes), len(tc.want), err)
			continue
		}
		for i, e := range fes {
			_, ok := e.(*FileError)
			if !ok || !strings.HasPrefix(e.Error(), tc.want[i]) {
				t.Errorf("%s: error %d %q (a FileError: %v), want it to begin %q", tc.name, i, e, ok, tc.want[i])
			}
		}
	}
}
