package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// rt34 F7: outbound_tls.ca_file and the MTA-STS policy's certificate and
// key, written relative, were read from the working directory, unlike
// every other path: config check passed in the file's directory and
// failed from another, and serve started from another refused the file
// (or read another ca.pem). Now config check agrees from either, and
// serve, started elsewhere with the file named absolutely, starts.
func TestRelativeOutboundTLSPathsAreUnderTheConfigDirectory(t *testing.T) {
	dir := t.TempDir()
	cert := selfSignedCert(t, "mta-sts.example.test")
	der, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	crt := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})
	for name, data := range map[string][]byte{"ca.pem": crt, "sts.crt": crt,
		"sts.key": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	addr := freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, addr, "127.0.0.1:9")
	text, _ := os.ReadFile(cfg)
	text = append(text, "outbound_tls:\n  ca_file: ca.pem\n  mta_sts_publish:\n    listen: "+freeAddr(t, "127.0.0.1")+
		"\n    cert_file: sts.crt\n    key_file: sts.key\n    mx: [mx.example.test]\n"...)
	if err := os.WriteFile(cfg, text, 0o600); err != nil {
		t.Fatal(err)
	}
	elsewhere := t.TempDir()
	for _, run := range []struct{ cwd, name string }{{dir, filepath.Base(cfg)}, {elsewhere, cfg}, {filepath.Dir(dir), filepath.Join(filepath.Base(dir), filepath.Base(cfg))}} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		c := exec.CommandContext(ctx, umbraBin, "config", "check", run.name)
		c.Dir = run.cwd
		out, err := c.CombinedOutput()
		cancel()
		if err != nil {
			t.Errorf("config check %s in %s: %v\n%s", run.name, run.cwd, err, out)
		}
	}
	startUmbra(t, cfg, addr) // the test's working directory is not dir
}
