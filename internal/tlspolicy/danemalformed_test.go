package tlspolicy

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"umbra/internal/resolver"
	"umbra/internal/resolver/dnstest"
)

// A TLSA record whose data cannot be what its selector and matching
// type say — a SHA2-256 digest not of 32 bytes, a SHA2-512 one not of
// 64, empty data, a full certificate or key that does not parse — is
// malformed, i.e. unusable (RFC 7671 §4, RFC 7672 §2.2): it counts like
// an unknown usage or selector, never as a record nothing matches.
func TestMalformedTLSAUnusable(t *testing.T) {
	now := time.Now()
	leaf, _ := cert(t, "mx.example", nil, nil, true, now.Add(time.Hour))
	s256 := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	s512 := sha512.Sum512(leaf.RawSubjectPublicKeyInfo)
	h := hex.EncodeToString
	for _, c := range []struct {
		name   string
		rec    *dns.TLSA
		usable bool
	}{
		{"3 1 1 well formed", tlsa(3, 1, 1, leaf), true},
		{"3 1 2 well formed", tlsa(3, 1, 2, leaf), true},
		{"3 0 0 well formed", tlsa(3, 0, 0, leaf), true},
		{"2 1 0 well formed", tlsa(2, 1, 0, leaf), true},
		{"3 1 1 33 bytes", &dns.TLSA{Usage: 3, Selector: 1, MatchingType: 1, Certificate: h(s256[:]) + "00"}, false},
		{"3 1 1 31 bytes", &dns.TLSA{Usage: 3, Selector: 1, MatchingType: 1, Certificate: h(s256[:31])}, false},
		{"3 1 1 64 bytes", &dns.TLSA{Usage: 3, Selector: 1, MatchingType: 1, Certificate: h(s512[:])}, false},
		{"3 1 2 32 bytes", &dns.TLSA{Usage: 3, Selector: 1, MatchingType: 2, Certificate: h(s256[:])}, false},
		{"3 1 1 empty", &dns.TLSA{Usage: 3, Selector: 1, MatchingType: 1}, false},
		{"3 1 0 empty", &dns.TLSA{Usage: 3, Selector: 1, MatchingType: 0}, false},
		{"3 0 0 empty", &dns.TLSA{Usage: 3, Selector: 0, MatchingType: 0}, false},
		{"3 0 0 not a certificate", &dns.TLSA{Usage: 3, Selector: 0, MatchingType: 0, Certificate: h(s256[:])}, false},
		{"3 1 0 not a key", &dns.TLSA{Usage: 3, Selector: 1, MatchingType: 0, Certificate: h(s256[:])}, false},
		{"3 1 0 a certificate, not a key", &dns.TLSA{Usage: 3, Selector: 1, MatchingType: 0, Certificate: h(leaf.Raw)}, false},
		{"3 1 1 bad hex", &dns.TLSA{Usage: 3, Selector: 1, MatchingType: 1, Certificate: "zz"}, false},
		{"1 1 1 PKIX-EE", tlsa(1, 1, 1, leaf), false},
		{"3 2 1 selector 2", &dns.TLSA{Usage: 3, Selector: 2, MatchingType: 1, Certificate: h(s256[:])}, false},
		{"3 1 3 matching 3", &dns.TLSA{Usage: 3, Selector: 1, MatchingType: 3, Certificate: h(s256[:])}, false},
		{"4 1 1 usage 4", &dns.TLSA{Usage: 4, Selector: 1, MatchingType: 1, Certificate: h(s256[:])}, false},
	} {
		if got := usableTLSA(c.rec); got != c.usable {
			t.Errorf("%s: usable %v, want %v", c.name, got, c.usable)
		}
		cs := tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}}
		if err := VerifyDANE(cs, []*dns.TLSA{c.rec}, []string{"mx.example"}, now); (err == nil) != c.usable {
			t.Errorf("%s: VerifyDANE %v", c.name, err)
		}
	}
}

// Through the engine, from a DNS answer: secure TLSA records that are
// all malformed make TLS mandatory and unauthenticated ("dane-unusable",
// 0 usable), as records of an unknown usage do; one well-formed record
// beside them is the one used.
func TestHostMalformedTLSAOnly(t *testing.T) {
	now := time.Now()
	leaf, _ := cert(t, "mx.m.test", nil, nil, true, now.Add(time.Hour))
	good := tlsa(3, 1, 1, leaf)
	srv := dnstest.Start(t,
		"m.test. 300 IN MX 10 mx.m.test.", "mx.m.test. 300 IN A 127.0.0.2",
		"_25._tcp.mx.m.test. 300 IN TLSA 3 1 1 "+strings.Repeat("ab", 33),
		`_25._tcp.mx.m.test. 300 IN TLSA \# 3 030101`,
		`_25._tcp.mx.m.test. 300 IN TLSA \# 3 030100`,
		"n.test. 300 IN MX 10 mx.n.test.", "mx.n.test. 300 IN A 127.0.0.2",
		"_25._tcp.mx.n.test. 300 IN TLSA 3 1 2 "+strings.Repeat("ab", 32),
		"_25._tcp.mx.n.test. 300 IN TLSA 3 1 1 "+good.Certificate)
	srv.Secure("m.test")
	srv.Secure("n.test")
	res, err := resolver.New(resolver.Config{Servers: []string{srv.Addr}, TrustAD: true, Timeout: 5 * time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	eng := New(Config{Resolver: res, DANE: true})
	ctx := context.Background()
	d, err := eng.Host(ctx, "m.test", eng.MXSecure(ctx, "m.test"), "mx.m.test", 25, nil)
	if err != nil || d == nil || d.Mode != "dane-unusable" || d.Verify != nil || !d.Require || !strings.Contains(d.Detail, "3 TLSA records at _25._tcp.mx.m.test (0 usable)") {
		t.Fatalf("malformed records only: %+v, %v", d, err)
	}
	d, err = eng.Host(ctx, "n.test", eng.MXSecure(ctx, "n.test"), "mx.n.test", 25, nil)
	if err != nil || d == nil || d.Mode != "dane" || d.Verify == nil || !strings.Contains(d.Detail, "(1 usable)") {
		t.Fatalf("a malformed and a good record: %+v, %v", d, err)
	}
	if err := d.Verify(tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}}); err != nil {
		t.Errorf("the good record beside a malformed one: %v", err)
	}
}

// FuzzUsableTLSA: any record data from DNS is judged without a panic,
// and a record judged usable has data its matching type allows.
func FuzzUsableTLSA(f *testing.F) {
	f.Add(uint8(3), uint8(1), uint8(1), make([]byte, 32))
	f.Add(uint8(3), uint8(1), uint8(0), []byte{0x30, 0x03, 0x30, 0x01, 0x00})
	f.Add(uint8(2), uint8(0), uint8(0), []byte{})
	f.Fuzz(func(t *testing.T, usage, sel, mt uint8, data []byte) {
		r := &dns.TLSA{Usage: usage, Selector: sel, MatchingType: mt, Certificate: hex.EncodeToString(data)}
		if !usableTLSA(r) {
			return
		}
		if usage != 2 && usage != 3 || sel > 1 || mt > 2 || mt == 1 && len(data) != 32 || mt == 2 && len(data) != 64 || len(data) == 0 {
			t.Fatalf("usable: %d %d %d %x", usage, sel, mt, data)
		}
	})
}
