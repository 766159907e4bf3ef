package msgauth

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-msgauth/dmarc"
)

// testKey is a signing key and its DNS key record.
type testKey struct {
	signer crypto.Signer
	algo   string // rsa-sha256 or ed25519-sha256
	record string // the TXT value
}

func edKey(t testing.TB) testKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{signer: priv, algo: "ed25519-sha256", record: "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)}
}

func rsaKey(t testing.TB) testKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{signer: k, algo: "rsa-sha256", record: "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)}
}

// zoneTXT is a zone-file TXT line, the value cut into 200-octet strings.
func zoneTXT(name, value string) string {
	var parts []string
	for len(value) > 200 {
		parts = append(parts, `"`+value[:200]+`"`)
		value = value[200:]
	}
	parts = append(parts, `"`+value+`"`)
	return name + ". 300 IN TXT " + strings.Join(parts, " ")
}

// dkimSign signs msg for domain with go-msgauth (the independent signer).
func dkimSign(t testing.TB, msg, domain, selector string, k testKey, hc, bc dkim.Canonicalization) string {
	t.Helper()
	var out bytes.Buffer
	err := dkim.Sign(&out, strings.NewReader(msg), &dkim.SignOptions{Domain: domain, Selector: selector, Signer: k.signer,
		HeaderCanonicalization: hc, BodyCanonicalization: bc, HeaderKeys: []string{"From", "To", "Subject", "Date"}})
	if err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// sign signs data (already canonical) with k: the b= value.
func (k testKey) sign(t testing.TB, data []byte) string {
	t.Helper()
	sum := sha256.Sum256(data)
	var sig []byte
	var err error
	if _, ok := k.signer.(ed25519.PrivateKey); ok {
		sig, err = k.signer.Sign(rand.Reader, sum[:], crypto.Hash(0))
	} else {
		sig, err = k.signer.Sign(rand.Reader, sum[:], crypto.SHA256)
	}
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// arcSeal adds one ARC set (RFC 8617 §5.1) to msg as a forwarder would:
// the AAR with results, an AMS over From/To/Subject/Date (relaxed/relaxed)
// and the AS with cv. It returns the new message.
func arcSeal(t testing.TB, msg, domain, selector string, k testKey, cv, results string) string {
	t.Helper()
	fields, body := splitHeader([]byte(msg))
	sets, err := parseARCSets(fields)
	if err != nil && cv != "fail" {
		t.Fatalf("sealing a broken chain: %v", err)
	}
	i := len(sets) + 1
	aar := fmt.Sprintf("ARC-Authentication-Results: i=%d; %s; %s\r\n", i, domain, results)
	bh := sha256.Sum256(canonBody(body, true))
	amsHead := fmt.Sprintf("ARC-Message-Signature: i=%d; a=%s; c=relaxed/relaxed; d=%s; s=%s;\r\n\th=from:to:subject:date; bh=%s; b=",
		i, k.algo, domain, selector, base64.StdEncoding.EncodeToString(bh[:]))
	var data bytes.Buffer
	for _, f := range pickHeaders(fields, []string{"from", "to", "subject", "date"}) {
		data.Write(relaxedHeader(f.raw))
	}
	data.Write(bytes.TrimSuffix(relaxedHeader([]byte(amsHead+"\r\n")), []byte("\r\n")))
	ams := amsHead + k.sign(t, data.Bytes()) + "\r\n"
	asHead := fmt.Sprintf("ARC-Seal: i=%d; a=%s; cv=%s; d=%s; s=%s; b=", i, k.algo, cv, domain, selector)
	data.Reset()
	for _, s := range sets {
		data.Write(relaxedHeader(s.aar.raw))
		data.Write(relaxedHeader(s.ams.raw))
		data.Write(relaxedHeader(s.as.raw))
	}
	data.Write(relaxedHeader([]byte(aar)))
	data.Write(relaxedHeader([]byte(ams)))
	data.Write(bytes.TrimSuffix(relaxedHeader([]byte(asHead+"\r\n")), []byte("\r\n")))
	as := asHead + k.sign(t, data.Bytes()) + "\r\n"
	return as + ams + aar + msg
}

// fakeTXT is a txtLookup over a map (unit tests; the acceptance tests
// use a real DNS server).
func fakeTXT(recs map[string]string) txtLookup {
	return func(_ context.Context, name string) ([]string, error) {
		if v, ok := recs[name]; ok {
			return []string{v}, nil
		}
		return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}
}

func alignmentMode(s string) dmarc.AlignmentMode { return dmarc.AlignmentMode(s) }
