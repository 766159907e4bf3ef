package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// OPS CLI (opsrt40 F4; README exit 64 "an argument that cannot mean
// what it says, refused rather than ignored"): dkim keygen --bits is
// an RSA key size: given alone it makes an RSA key of that size (it
// wrote an ed25519 key, exit 0), and given with --algorithm ed25519 it
// is refused with 64 and words, no key written.
func TestOPSDKIMKeygenBitsIsRSAOrRefused(t *testing.T) {
	dir := t.TempDir()
	_, rsa := keygen(t, dir, "example.org", "b1", "--bits", "3072")
	if !strings.HasPrefix(rsa, "v=DKIM1; k=rsa; p=") || len(rsa) < 450 {
		t.Fatalf("--bits 3072 alone: record %q, want an RSA key of 3072 bits", rsa)
	}
	out, err := exec.Command(umbraBin, "dkim", "keygen", "example.org", "b2", "--bits", "2048", "--algorithm", "ed25519", "--out", dir).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitUsage || !strings.Contains(string(out), "--bits is an RSA key size: an ed25519 key has none") {
		t.Fatalf("--bits with --algorithm ed25519: %v (want exit %d and why)\n%s", err, exitUsage, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "example.org.b2.key")); err == nil {
		t.Errorf("a key was written for a refused command")
	}
}
