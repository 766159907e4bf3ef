package tlspolicy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"math/big"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func cert(t *testing.T, name string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, ca bool, notAfter time.Time) (*x509.Certificate, *ecdsa.PrivateKey) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: notAfter, IsCA: ca, BasicConstraintsValid: ca,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c, key
}

func tlsa(usage, sel, mt uint8, c *x509.Certificate) *dns.TLSA {
	data := c.Raw
	if sel == 1 {
		data = c.RawSubjectPublicKeyInfo
	}
	switch mt {
	case 1:
		s := sha256.Sum256(data)
		data = s[:]
	case 2:
		s := sha512.Sum512(data)
		data = s[:]
	}
	return &dns.TLSA{Usage: usage, Selector: sel, MatchingType: mt, Certificate: hex.EncodeToString(data)}
}

// Every selector and matching type of DANE-EE and DANE-TA; expired or
// misnamed leaves pass DANE-EE (RFC 7672 §3.1.1) but not DANE-TA;
// PKIX-TA/EE (0, 1) records are unusable for SMTP.
func TestVerifyDANE(t *testing.T) {
	now := time.Now()
	ca, caKey := cert(t, "Test CA", nil, nil, true, now.Add(time.Hour))
	leaf, _ := cert(t, "mx.example", ca, caKey, false, now.Add(time.Hour))
	expired, _ := cert(t, "mx.example", ca, caKey, false, now.Add(-time.Hour))
	other, _ := cert(t, "other.example", ca, caKey, false, now.Add(time.Hour))
	stranger, _ := cert(t, "stranger", nil, nil, true, now.Add(time.Hour))
	chain := func(l *x509.Certificate) tls.ConnectionState {
		return tls.ConnectionState{PeerCertificates: []*x509.Certificate{l, ca}}
	}
	names := []string{"mx.example", "example"}
	for _, c := range []struct {
		name string
		cs   tls.ConnectionState
		recs []*dns.TLSA
		ok   bool
	}{
		{"EE cert full", chain(leaf), []*dns.TLSA{tlsa(3, 0, 0, leaf)}, true},
		{"EE cert sha256", chain(leaf), []*dns.TLSA{tlsa(3, 0, 1, leaf)}, true},
		{"EE spki sha512", chain(leaf), []*dns.TLSA{tlsa(3, 1, 2, leaf)}, true},
		{"EE expired and misnamed still match", chain(expired), []*dns.TLSA{tlsa(3, 1, 1, expired)}, true},
		{"EE another key", chain(leaf), []*dns.TLSA{tlsa(3, 1, 1, other)}, false},
		{"TA cert sha256", chain(leaf), []*dns.TLSA{tlsa(2, 0, 1, ca)}, true},
		{"TA spki full", chain(leaf), []*dns.TLSA{tlsa(2, 1, 0, ca)}, true},
		{"TA wrong name", chain(other), []*dns.TLSA{tlsa(2, 0, 1, ca)}, false},
		{"TA expired leaf", chain(expired), []*dns.TLSA{tlsa(2, 0, 1, ca)}, false},
		{"TA not in chain", chain(leaf), []*dns.TLSA{tlsa(2, 0, 1, stranger)}, false},
		{"PKIX-EE unusable", chain(leaf), []*dns.TLSA{tlsa(1, 0, 1, leaf)}, false},
		{"one of several", chain(leaf), []*dns.TLSA{tlsa(3, 1, 1, other), tlsa(2, 0, 1, ca)}, true},
		{"bad hex", chain(leaf), []*dns.TLSA{{Usage: 3, Selector: 1, MatchingType: 1, Certificate: "zz"}}, false},
		{"no certificate", tls.ConnectionState{}, []*dns.TLSA{tlsa(3, 1, 1, leaf)}, false},
	} {
		err := VerifyDANE(c.cs, c.recs, names, now)
		if (err == nil) != c.ok {
			t.Errorf("%s: err %v", c.name, err)
		}
	}
}
