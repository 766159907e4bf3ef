package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// outbound_tls.mta_sts_publish with a certificate that does not name
// mta-sts.<domain> for an authoritative domain (rt18a F6): every
// sender's policy fetch for it would fail. config check and serve warn
// at cert_file's line, naming the hosts; a reload warns again for a
// domain it adds, serves that domain's policy, and takes the
// certificate file's new content (a renewed certificate): covering
// every host, it warns no more.
func TestMTASTSPublishCertificateMustNameThePolicyHosts(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.1")
	pubAddr := freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, "127.0.0.1:9")
	certFile, keyFile := writeCertFiles(t, dir, certNaming(t, "*.d.test"))
	base, _ := os.ReadFile(cfg)
	text := string(base) + "outbound_tls:\n  mta_sts_publish:\n    listen: " + pubAddr + "\n    cert_file: " + certFile + "\n    key_file: " + keyFile +
		"\n    mx: [mx.example.test]\n"
	os.WriteFile(cfg, []byte(text), 0o600)
	warning := regexp.MustCompile(regexp.QuoteMeta(cfg) + `:\d+: warning: outbound_tls\.mta_sts_publish\.cert_file ` + regexp.QuoteMeta(certFile) +
		` does not name mta-sts\.example\.test`)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, umbraBin, "config", "check", cfg).CombinedOutput()
	if err != nil || !warning.Match(out) {
		t.Fatalf("config check: %v, want ok and %q\n%s", err, warning, out)
	}

	d := startUmbra(t, cfg, listen)
	logText := func() string { b, _ := os.ReadFile(d.log); return string(b) }
	waitCond(t, "the start's warning", 10*time.Second, func() bool { return warning.MatchString(logText()) })

	// fetch asks the server for host's policy; it returns the status and
	// the certificate's names.
	fetch := func(host string) (int, []string) {
		var names []string
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var dl net.Dialer
				return dl.DialContext(ctx, network, pubAddr)
			},
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true, VerifyConnection: func(cs tls.ConnectionState) error {
				names = cs.PeerCertificates[0].DNSNames
				return nil
			}}}}
		resp, err := c.Get("https://" + host + "/.well-known/mta-sts.txt")
		if err != nil {
			t.Fatalf("fetch %s: %v", host, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, names
	}
	if code, names := fetch("mta-sts.example.test"); code != 200 || strings.Join(names, ",") != "*.d.test" {
		t.Fatalf("before the reload: %d %q", code, names)
	}

	// A reload that adds an authoritative domain: warned about, served.
	text = strings.Replace(text, "accepted_domains:\n", "accepted_domains:\n  - domain: new.test\n    type: authoritative\n    recipient_validation: off\n", 1)
	os.WriteFile(cfg, []byte(text), 0o600)
	newWarning := regexp.MustCompile(regexp.QuoteMeta(cfg) + `:\d+: warning: outbound_tls\.mta_sts_publish\.cert_file ` + regexp.QuoteMeta(certFile) +
		` does not name mta-sts\.new\.test, mta-sts\.example\.test`)
	d.hup()
	waitCond(t, "the reload's warning", 10*time.Second, func() bool { return newWarning.MatchString(logText()) || strings.Contains(logText(), "reload failed") })
	if !newWarning.MatchString(logText()) {
		t.Fatalf("reload: want %q\n%s", newWarning, logText())
	}
	// The warning can come from the reload's configuration warnings,
	// before the policy of the added domain is served: read until it is.
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		code, _ := fetch("mta-sts.new.test")
		if code == 200 {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("the added domain's policy: %d", code)
		}
	}

	// The certificate renewed in place, naming every policy host: the
	// reload serves it, and warns no more.
	writeCertFiles(t, dir, certNaming(t, "mta-sts.example.test", "mta-sts.new.test"))
	before := strings.Count(logText(), "does not name")
	reloads := strings.Count(logText(), "receive connectors reloaded")
	d.hup()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end) && strings.Count(logText(), "receive connectors reloaded") == reloads; {
		time.Sleep(20 * time.Millisecond)
	}
	if strings.Count(logText(), "receive connectors reloaded") == reloads {
		t.Fatalf("second reload:\n%s", logText())
	}
	// The connectors' line comes early in the reload; the certificate is
	// served, and its hosts checked, after the reload applied the file:
	// read until the renewed one is served (10 s at most).
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		code, names := fetch("mta-sts.example.test")
		if code == 200 && strings.Join(names, ",") == "mta-sts.example.test,mta-sts.new.test" {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("after the renewal: %d %q", code, names)
		}
	}
	if n := strings.Count(logText(), "does not name"); n != before {
		t.Fatalf("warned again after the certificate covers every host:\n%s", logText())
	}
}

// certNaming is a self-signed certificate for names.
func certNaming(t *testing.T, names ...string) tls.Certificate {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(4), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}
