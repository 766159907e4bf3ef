package tlspolicy

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// TLSA usages, selectors and matching types umbra uses (RFC 6698, RFC 7672 §3.1).
const (
	UsageDANETA = 2
	UsageDANEEE = 3
)

// usableTLSA reports whether a record is one RFC 7672 lets SMTP use:
// DANE-TA(2) or DANE-EE(3), selector Cert(0) or SPKI(1), matching
// Full(0), SHA2-256(1) or SHA2-512(2) — and well formed: its data is a
// digest of the matching type's length (32, 64 octets), or for Full a
// whole DER certificate (selector 0) or SubjectPublicKeyInfo (selector
// 1). A malformed record is unusable (RFC 7671 §4, RFC 7672 §2.2), like
// one of an unknown usage: it can match nothing, and counting it would
// defer mail for a record error as if the certificate were wrong.
func usableTLSA(r *dns.TLSA) bool {
	if r.Usage != UsageDANETA && r.Usage != UsageDANEEE || r.Selector > 1 {
		return false
	}
	data, err := hex.DecodeString(r.Certificate)
	if err != nil {
		return false
	}
	switch r.MatchingType {
	case 1:
		return len(data) == sha256.Size
	case 2:
		return len(data) == sha512.Size
	case 0:
		return wellFormedDER(data, r.Selector)
	}
	return false
}

// wellFormedDER reports whether data is one whole DER certificate
// (selector 0) or SubjectPublicKeyInfo (selector 1). Only the structure
// is checked, not what x509 would accept of its content: a key of an
// algorithm umbra does not know still matches byte for byte.
func wellFormedDER(data []byte, selector uint8) bool {
	var rest []byte
	var err error
	switch selector {
	case 0:
		var c struct {
			TBS    asn1.RawValue
			SigAlg pkix.AlgorithmIdentifier
			Sig    asn1.BitString
		}
		rest, err = asn1.Unmarshal(data, &c)
	case 1:
		var k struct {
			Algorithm pkix.AlgorithmIdentifier
			PublicKey asn1.BitString
		}
		rest, err = asn1.Unmarshal(data, &k)
	default:
		return false
	}
	return err == nil && len(rest) == 0
}

// tlsaMatch reports whether cert matches the record's selector and
// matching type.
func tlsaMatch(r *dns.TLSA, cert *x509.Certificate) bool {
	var data []byte
	switch r.Selector {
	case 0:
		data = cert.Raw
	case 1:
		data = cert.RawSubjectPublicKeyInfo
	default:
		return false
	}
	switch r.MatchingType {
	case 1:
		s := sha256.Sum256(data)
		data = s[:]
	case 2:
		s := sha512.Sum512(data)
		data = s[:]
	case 0:
	default:
		return false
	}
	want, err := hex.DecodeString(r.Certificate)
	return err == nil && bytes.Equal(want, data)
}

// ErrDANEMismatch is a certificate no usable TLSA record matched.
var ErrDANEMismatch = errors.New("no TLSA record matches the certificate")

// VerifyDANE checks a TLS session against TLSA records (RFC 7672 §3):
// a DANE-EE(3) record matching the server's certificate authenticates it
// with no name or expiry check; a DANE-TA(2) record matching a
// certificate of the chain the server sent makes that certificate a
// trust anchor, and the server's certificate must chain to it and carry
// one of names (the reference identifiers: the TLSA base domain, the MX
// host name, the next-hop domain), else it is a *DANENameError naming
// them all. now is the time certificates are checked at.
func VerifyDANE(cs tls.ConnectionState, recs []*dns.TLSA, names []string, now time.Time) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("no server certificate")
	}
	leaf := cs.PeerCertificates[0]
	var lastErr error = ErrDANEMismatch
	for _, r := range recs {
		if !usableTLSA(r) {
			continue
		}
		switch r.Usage {
		case UsageDANEEE:
			if tlsaMatch(r, leaf) {
				return nil
			}
		case UsageDANETA:
			for _, ta := range cs.PeerCertificates {
				if !tlsaMatch(r, ta) {
					continue
				}
				roots := x509.NewCertPool()
				roots.AddCert(ta)
				inter := x509.NewCertPool()
				for _, c := range cs.PeerCertificates[1:] {
					inter.AddCert(c)
				}
				// The chain first, then the names: a name failure is
				// said once for all the names tried, not as x509's
				// error for the last of them.
				if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now}); err != nil {
					if !errors.As(lastErr, new(*DANENameError)) {
						lastErr = fmt.Errorf("DANE-TA: %w", err)
					}
					continue
				}
				for _, n := range names {
					if leaf.VerifyHostname(n) == nil {
						return nil
					}
				}
				lastErr = &DANENameError{Names: names, Cert: leaf}
			}
		}
	}
	return lastErr
}

// DANENameError is a certificate that chains to a DANE-TA trust anchor
// but carries none of the reference identifiers it was checked for
// (RFC 7672 §3.2.2: the TLSA base domain, the MX host name, the next-hop
// domain). It unwraps to x509's error for the first of them, so it is
// reported as a host mismatch.
type DANENameError struct {
	Names []string // the names tried, in order
	Cert  *x509.Certificate
}

func (e *DANENameError) Error() string {
	return "DANE-TA: certificate is " + e.ValidFor() + ", not " + strings.Join(e.Names, " or ")
}

func (e *DANENameError) Unwrap() error {
	return x509.HostnameError{Certificate: e.Cert, Host: e.Names[0]}
}

// maxNamesShown bounds the certificate's names a failure quotes: the
// certificate is the remote server's, and a reply line is short.
const maxNamesShown = 5

// ValidFor says which DNS names the certificate is valid for ("valid for
// a, b"), at most maxNamesShown of them, or that it names none.
func (e *DANENameError) ValidFor() string {
	dns := e.Cert.DNSNames
	if len(dns) == 0 {
		if cn := e.Cert.Subject.CommonName; cn != "" {
			return "valid for no DNS name (only the Common Name " + cn + ", which is not read)"
		}
		return "valid for no DNS name"
	}
	if len(dns) > maxNamesShown {
		return fmt.Sprintf("valid for %s and %d more", strings.Join(dns[:maxNamesShown], ", "), len(dns)-maxNamesShown)
	}
	return "valid for " + strings.Join(dns, ", ")
}

// VerifyPKIX checks a TLS session as MTA-STS (and a verify send
// connector) does: the chain against roots (nil: the system's), the
// certificate for name.
func VerifyPKIX(cs tls.ConnectionState, roots *x509.CertPool, name string, now time.Time) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("no server certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: name, CurrentTime: now})
	return err
}
