package msgauth

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// dkimpyARCSign seals msg with dkimpy's arcsign (Debian python3-dkim
// with python3-authres), an ARC implementation independent of umbra's.
// It needs an Authentication-Results field of srvID in msg.
func dkimpyARCSign(t *testing.T, msg, selector, domain string, k testKey) string {
	t.Helper()
	keyFile := filepath.Join(t.TempDir(), "key.pem")
	der := x509.MarshalPKCS1PrivateKey(k.signer.(*rsa.PrivateKey))
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("arcsign", selector, domain, keyFile, domain)
	cmd.Stdin = strings.NewReader(msg)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil || !strings.HasPrefix(out.String(), "ARC-Seal:") {
		t.Fatalf("arcsign: %v\n%s\n%s", err, errb.Bytes(), out.Bytes())
	}
	return out.String()
}

func needArcsign(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("arcsign"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("arcsign (python3-dkim) is not installed")
		}
		t.Skip("arcsign (python3-dkim) is not installed")
	}
	if exec.Command("/usr/bin/python3", "-c", "import authres").Run() != nil { // arcsign runs under /usr/bin/python3
		if os.Getenv("CI") != "" {
			t.Fatal("python3-authres is not installed")
		}
		t.Skip("python3-authres is not installed")
	}
}

// Interop: a two-hop chain sealed by dkimpy (the second hop adds a
// footer, breaking the first AMS) validates over SMTP with DNS from the
// loopback server; a change after the last seal fails it.
func TestARCSealedByDkimpy(t *testing.T) {
	needArcsign(t)
	k1, k2 := rsaKey(t), rsaKey(t)
	e := startEdge(t, "{profile: internet}", append(senderZone,
		zoneTXT("arc._domainkey.lists.test", k1.record), zoneTXT("arc2._domainkey.fwd.test", k2.record))...)
	hop1 := dkimpyARCSign(t, "Authentication-Results: lists.test; spf=pass smtp.mailfrom=none.test\r\n"+
		message("a@none.test", "dkimpy"), "arc", "lists.test", k1)
	footer := strings.Replace(hop1, "hello bob\r\n", "hello bob\r\n-- \r\nlist footer\r\n", 1)
	hop2 := dkimpyARCSign(t, "Authentication-Results: fwd.test; arc=pass\r\n"+footer, "arc2", "fwd.test", k2)

	if got := e.send(t, "client.test", "a@none.test", hop1); !strings.HasPrefix(got, "250") {
		t.Fatalf("reply %q", got)
	}
	_, body := e.q.last(t)
	wantAll(t, authResults(t, body), "arc=pass (i=1) header.d=lists.test")
	if got := e.send(t, "client.test", "a@none.test", hop2); !strings.HasPrefix(got, "250") {
		t.Fatalf("reply %q", got)
	}
	_, body = e.q.last(t)
	wantAll(t, authResults(t, body), "arc=pass (i=2) header.d=fwd.test")
	if got := e.send(t, "client.test", "a@none.test", strings.Replace(hop2, "list footer", "list f00ter", 1)); !strings.HasPrefix(got, "250") {
		t.Fatalf("reply %q", got)
	}
	_, body = e.q.last(t)
	wantAll(t, authResults(t, body), "arc=fail (i=2 message signature: body hash does not match)")
}

// Interop: opendkim-testmsg (Debian opendkim-tools) signs with rsa-sha1,
// which RFC 8301 forbids verifiers to accept: the signature is not a
// pass, so DMARC fails and p=reject refuses the message; under p=none
// the header records why.
func TestRSASHA1FromOpenDKIMIsNotAPass(t *testing.T) {
	if _, err := exec.LookPath("opendkim-testmsg"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("opendkim-testmsg (opendkim-tools) is not installed")
		}
		t.Skip("opendkim-testmsg (opendkim-tools) is not installed")
	}
	k := rsaKey(t)
	keyFile := filepath.Join(t.TempDir(), "key.pem")
	der := x509.MarshalPKCS1PrivateKey(k.signer.(*rsa.PrivateKey))
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	sign := func(msg, domain string) string {
		cmd := exec.Command("opendkim-testmsg", "-C", "-d", domain, "-s", "od", "-k", keyFile)
		cmd.Stdin = strings.NewReader(msg)
		out, err := cmd.Output()
		if err != nil || !strings.HasPrefix(string(out), "DKIM-Signature:") || !strings.Contains(string(out), "a=rsa-sha1") {
			t.Fatalf("opendkim-testmsg: %v\n%s", err, out)
		}
		return string(out)
	}
	e := startEdge(t, "{profile: internet}", append(senderZone,
		zoneTXT("od._domainkey.reject.test", k.record), zoneTXT("od._domainkey.none.test", k.record))...)
	if got := e.send(t, "client.test", "a@reject.test", sign(message("a@reject.test", "sha1"), "reject.test")); !strings.HasPrefix(got, "550 5.7.1") {
		t.Fatalf("rsa-sha1 under p=reject: %q", got)
	}
	if got := e.send(t, "client.test", "a@none.test", sign(message("a@none.test", "sha1"), "none.test")); !strings.HasPrefix(got, "250") {
		t.Fatalf("rsa-sha1 under p=none: %q", got)
	}
	_, body := e.q.last(t)
	wantAll(t, authResults(t, body), "dkim=permerror (dkim: hash algorithm too weak: sha1) header.d=none.test", "dmarc=fail (p=none)")
}
