package tlspolicy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// certSAN is a certificate with Common Name cn and DNS names sans (none:
// a name in the CN only), signed by parent (nil: itself).
func certSAN(t *testing.T, cn string, sans []string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, notAfter time.Time) *x509.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn}, DNSNames: sans,
		NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// RFC 7672 §3.2.2/§3.2.3 under the check that reads the chain first and
// the reference identifiers after (VerifyDANE): a wildcard SAN names the
// host one label under it; a name in the Common Name alone names nothing
// (a host mismatch, said so); a certificate carrying an IDN host's A-label
// names it (Host gives the names as A-labels: NameKey); a DANE-TA record
// whose anchor is the server's own key (2 1 1 on a self-signed leaf)
// still wants a name; DANE-EE wants none, nor an unexpired certificate.
// Each failure is reported (TLS-RPT, RFC 8460) as its cause.
func TestDANEReferenceIdentifiers(t *testing.T) {
	now := time.Now()
	later := now.Add(time.Hour)
	ca, caKey := cert(t, "Test CA", nil, nil, true, later)
	names := []string{"mx.xn--bcher-kva.test", "xn--bcher-kva.test"}
	wild := certSAN(t, "wild", []string{"*.xn--bcher-kva.test"}, ca, caKey, later)
	cnOnly := certSAN(t, "mx.xn--bcher-kva.test", nil, ca, caKey, later)
	domainOnly := certSAN(t, "d", []string{"xn--bcher-kva.test"}, ca, caKey, later)
	deepWild := certSAN(t, "deep", []string{"*.mx.xn--bcher-kva.test"}, ca, caKey, later)
	expired := certSAN(t, "old", []string{"mx.xn--bcher-kva.test"}, ca, caKey, now.Add(-time.Hour))
	selfNamed := certSAN(t, "self", []string{"mx.xn--bcher-kva.test"}, nil, nil, later)
	selfOther := certSAN(t, "self", []string{"other.test"}, nil, nil, later)
	chained := func(l *x509.Certificate) tls.ConnectionState {
		return tls.ConnectionState{PeerCertificates: []*x509.Certificate{l, ca}}
	}
	alone := func(l *x509.Certificate) tls.ConnectionState {
		return tls.ConnectionState{PeerCertificates: []*x509.Certificate{l}}
	}
	ta := []*dns.TLSA{tlsa(UsageDANETA, 0, 1, ca)}
	dec := &Decision{Source: SourceDANE, Mode: "dane"}
	for _, c := range []struct {
		name   string
		cs     tls.ConnectionState
		recs   []*dns.TLSA
		result string // ResultType; "" passes
	}{
		{"wildcard SAN over the MX host", chained(wild), ta, ""},
		{"SAN of the next-hop domain only", chained(domainOnly), ta, ""},
		{"wildcard a label under the MX host", chained(deepWild), ta, "certificate-host-mismatch"},
		{"name in the CN only", chained(cnOnly), ta, "certificate-host-mismatch"},
		{"DANE-TA, leaf expired", chained(expired), ta, "certificate-expired"},
		{"2 1 1: anchor the leaf's own key, named", alone(selfNamed), []*dns.TLSA{tlsa(UsageDANETA, 1, 1, selfNamed)}, ""},
		{"2 1 1: anchor the leaf's own key, misnamed", alone(selfOther), []*dns.TLSA{tlsa(UsageDANETA, 1, 1, selfOther)}, "certificate-host-mismatch"},
		{"3 1 1: no name wanted", alone(selfOther), []*dns.TLSA{tlsa(UsageDANEEE, 1, 1, selfOther)}, ""},
		{"3 0 1: name in the CN only", chained(cnOnly), []*dns.TLSA{tlsa(UsageDANEEE, 0, 1, cnOnly)}, ""},
		{"3 1 1: expired", chained(expired), []*dns.TLSA{tlsa(UsageDANEEE, 1, 1, expired)}, ""},
		{"3 1 1 of another key, TA misnamed: said as the name", chained(cnOnly), append([]*dns.TLSA{tlsa(UsageDANEEE, 1, 1, wild)}, ta...), "certificate-host-mismatch"},
	} {
		err := VerifyDANE(c.cs, c.recs, names, now)
		if got := ResultType(dec, err); got != c.result {
			t.Errorf("%s: result %q (%v), want %q", c.name, got, err, c.result)
		}
		var ne *DANENameError
		if errors.As(err, &ne) {
			if len(ne.Names) != len(names) {
				t.Errorf("%s: names tried %v, want %v", c.name, ne.Names, names)
			}
			if d := Describe(dec, names[0], err, nil); d == "" {
				t.Errorf("%s: not described", c.name)
			}
		}
	}
	// The CN-only certificate is said to be so, not valid for nothing.
	err := VerifyDANE(chained(cnOnly), ta, names, now)
	want := "certificate under the TLSA trust anchor names none of mx.xn--bcher-kva.test, xn--bcher-kva.test (it is valid for no DNS name (only the Common Name mx.xn--bcher-kva.test, which is not read))"
	if got := Describe(dec, names[0], err, nil); got != want {
		t.Errorf("CN only described as\n %q\nwant\n %q", got, want)
	}
}
