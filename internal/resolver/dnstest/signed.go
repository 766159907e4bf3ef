package dnstest

import (
	"crypto"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// SignedZone is an authoritative server for one DNSSEC-signed zone
// (ECDSA P-256, a KSK and a ZSK): every RRset is signed, and NXDOMAIN
// and NODATA answers carry NSEC proofs, so a validating resolver
// (unbound) in front of it sets the AD bit. Records are zone-file lines
// under the zone; SOA, NS and DNSKEY are made by StartSigned.
type SignedZone struct {
	Addr string // host:port, UDP and TCP
	Zone string // fully qualified, lower case
	KSK  *dns.DNSKEY

	mu      sync.Mutex
	rrs     []dns.RR
	ksk     crypto.Signer
	zsk     *dns.DNSKEY
	zskPriv crypto.Signer
	bogus   map[string]bool // owner names whose signatures are broken
	signed  map[rrKey][]dns.RR
	names   []string // owners in canonical order (for NSEC)
	udp     *dns.Server
	tcp     *dns.Server
}

type rrKey struct {
	name  string
	rtype uint16
}

// StartSigned serves zone with records on ip (an address of 127/8) and
// stops in t.Cleanup.
func StartSigned(t testing.TB, ip, zone string, records ...string) *SignedZone {
	t.Helper()
	zone = strings.ToLower(dns.Fqdn(zone))
	z := &SignedZone{Zone: zone, bogus: map[string]bool{}}
	z.KSK = &dns.DNSKEY{Hdr: dns.RR_Header{Name: zone, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 300},
		Flags: 257, Protocol: 3, Algorithm: dns.ECDSAP256SHA256}
	k, err := z.KSK.Generate(256)
	if err != nil {
		t.Fatal(err)
	}
	z.ksk = k.(crypto.Signer)
	z.zsk = &dns.DNSKEY{Hdr: z.KSK.Hdr, Flags: 256, Protocol: 3, Algorithm: dns.ECDSAP256SHA256}
	k, err = z.zsk.Generate(256)
	if err != nil {
		t.Fatal(err)
	}
	z.zskPriv = k.(crypto.Signer)
	base := []string{
		zone + " 300 IN SOA ns." + zone + " hostmaster." + zone + " 1 3600 600 86400 300",
		zone + " 300 IN NS ns." + zone,
		"ns." + zone + " 300 IN A " + ip,
	}
	z.Set(t, append(base, records...)...)
	z.Addr, z.udp, z.tcp = serve(t, ip, z)
	t.Cleanup(func() { z.udp.Shutdown(); z.tcp.Shutdown() })
	return z
}

// TrustAnchor is the KSK as a trust-anchor line for a validator.
func (z *SignedZone) TrustAnchor() string { return z.KSK.String() }

// Set replaces the zone's records (besides DNSKEY) and signs them again.
func (z *SignedZone) Set(t testing.TB, records ...string) {
	t.Helper()
	var rrs []dns.RR
	for _, line := range records {
		rr, err := dns.NewRR(line)
		if err != nil {
			t.Fatalf("dnstest: %q: %v", line, err)
		}
		if rr != nil {
			rr.Header().Name = strings.ToLower(rr.Header().Name)
			rrs = append(rrs, rr)
		}
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	z.rrs = rrs
	if err := z.signLocked(); err != nil {
		t.Fatal(err)
	}
}

// Bogus breaks the signatures of name's RRsets, as an attacker's
// forged answer would look to a validator.
func (z *SignedZone) Bogus(name string) {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.bogus[strings.ToLower(dns.Fqdn(name))] = true
}

func (z *SignedZone) signLocked() error {
	z.signed = map[rrKey][]dns.RR{}
	for _, rr := range append([]dns.RR{z.KSK, z.zsk}, z.rrs...) {
		k := rrKey{rr.Header().Name, rr.Header().Rrtype}
		z.signed[k] = append(z.signed[k], rr)
	}
	// NSEC chain over every owner name (and the empty non-terminals
	// between them and the apex, so that they are not denied).
	owners := map[string]bool{}
	for k := range z.signed {
		for n := k.name; strings.HasSuffix(n, z.Zone); {
			owners[n] = true
			if n == z.Zone {
				break
			}
			_, rest, _ := strings.Cut(n, ".")
			n = rest
		}
	}
	z.names = z.names[:0]
	for n := range owners {
		z.names = append(z.names, n)
	}
	sort.Slice(z.names, func(i, j int) bool { return canonicalLess(z.names[i], z.names[j]) })
	for i, n := range z.names {
		types := []uint16{dns.TypeNSEC, dns.TypeRRSIG}
		for k := range z.signed {
			if k.name == n {
				types = append(types, k.rtype)
			}
		}
		sort.Slice(types, func(a, b int) bool { return types[a] < types[b] })
		nsec := &dns.NSEC{Hdr: dns.RR_Header{Name: n, Rrtype: dns.TypeNSEC, Class: dns.ClassINET, Ttl: 300},
			NextDomain: z.names[(i+1)%len(z.names)], TypeBitMap: types}
		z.signed[rrKey{n, dns.TypeNSEC}] = []dns.RR{nsec}
	}
	return nil
}

// sig signs an RRset: DNSKEY with the KSK, the rest with the ZSK.
func (z *SignedZone) sig(rrset []dns.RR) dns.RR {
	h := rrset[0].Header()
	key, priv := z.zsk, z.zskPriv
	if h.Rrtype == dns.TypeDNSKEY {
		key, priv = z.KSK, z.ksk
	}
	now := time.Now()
	s := &dns.RRSIG{Hdr: dns.RR_Header{Name: h.Name, Rrtype: dns.TypeRRSIG, Class: dns.ClassINET, Ttl: h.Ttl},
		Algorithm: key.Algorithm, KeyTag: key.KeyTag(), SignerName: z.Zone,
		Inception: uint32(now.Add(-time.Hour).Unix()), Expiration: uint32(now.Add(24 * time.Hour).Unix())}
	if err := s.Sign(priv, rrset); err != nil {
		panic(err) // a key of our own making: cannot fail
	}
	if z.bogus[h.Name] && h.Rrtype != dns.TypeNSEC {
		s.Signature = "AAAA" + s.Signature[4:]
	}
	return s
}

func (z *SignedZone) rrset(name string, t uint16) []dns.RR {
	var out []dns.RR
	for _, rr := range z.signed[rrKey{name, t}] {
		out = append(out, dns.Copy(rr))
	}
	if len(out) > 0 {
		out = append(out, z.sig(out))
	}
	return out
}

// covering returns the NSEC whose span covers name (which does not exist).
func (z *SignedZone) covering(name string) []dns.RR {
	prev := z.names[len(z.names)-1]
	for _, n := range z.names {
		if canonicalLess(name, n) {
			break
		}
		prev = n
	}
	return z.rrset(prev, dns.TypeNSEC)
}

// ServeDNS implements dns.Handler.
func (z *SignedZone) ServeDNS(w dns.ResponseWriter, q *dns.Msg) {
	r := new(dns.Msg)
	r.SetReply(q)
	r.Authoritative = true
	if len(q.Question) != 1 {
		r.Rcode = dns.RcodeFormatError
		w.WriteMsg(r)
		return
	}
	if o := q.IsEdns0(); o != nil {
		r.SetEdns0(1232, o.Do())
	}
	qn := strings.ToLower(q.Question[0].Name)
	qt := q.Question[0].Qtype
	z.mu.Lock()
	defer z.mu.Unlock()
	soa := func() []dns.RR { return z.rrset(z.Zone, dns.TypeSOA) }
	switch {
	case !strings.HasSuffix(qn, z.Zone) && qn != z.Zone:
		r.Rcode = dns.RcodeRefused
	case z.has(qn):
		if ans := z.rrset(qn, qt); len(ans) > 0 {
			r.Answer = ans
		} else if cn := z.rrset(qn, dns.TypeCNAME); len(cn) > 0 {
			r.Answer = cn
		} else { // NODATA: the name's own NSEC proves the type absent
			r.Ns = append(soa(), z.rrset(qn, dns.TypeNSEC)...)
		}
	default: // NXDOMAIN: NSEC covering the name, and the wildcard at its closest encloser
		r.Rcode = dns.RcodeNameError
		r.Ns = append(soa(), z.covering(qn)...)
		ce := qn
		for ce != z.Zone && !z.has(ce) {
			if _, ce, _ = strings.Cut(ce, "."); ce == "" {
				ce = z.Zone // a name that only ends like the zone ("xdane.test.")
			}
		}
		wc := z.covering("*." + ce)
		if wc[0].Header().Name != r.Ns[len(r.Ns)-1].Header().Name {
			r.Ns = append(r.Ns, wc...)
		}
	}
	w.WriteMsg(r)
}

func (z *SignedZone) has(name string) bool {
	i := sort.Search(len(z.names), func(i int) bool { return !canonicalLess(z.names[i], name) })
	return i < len(z.names) && z.names[i] == name
}

// canonicalLess orders names as DNSSEC does (RFC 4034 §6.1): by labels
// from the right, each compared as lower-case bytes.
func canonicalLess(a, b string) bool {
	la, lb := dns.SplitDomainName(a), dns.SplitDomainName(b)
	for i, j := len(la)-1, len(lb)-1; i >= 0 || j >= 0; i, j = i-1, j-1 {
		switch {
		case i < 0:
			return true
		case j < 0:
			return false
		}
		x, y := strings.ToLower(la[i]), strings.ToLower(lb[j])
		if x != y {
			return x < y
		}
	}
	return false
}
