package msgauth

import (
	"context"
	"net"
	"net/netip"
	"strings"

	"umbra/internal/mailaddr"
	"umbra/internal/resolver"
)

// Names the checks build from what a message or a record says (an SPF
// macro expansion, a DKIM selector and domain, "_dmarc." and a From:
// domain) can be longer than a domain name may be (253 characters, RFC
// 1035 §2.3.4) or have a label over 63 characters. No record can exist
// at such a name: asking the resolver would fail as a DNS failure
// (temperror, 451 "DNS failure" under p=reject, for ever) although DNS
// never failed. nameGuard answers such a name "not found" without a
// query, so each check takes it as the record's absence: SPF's exists
// does not match and an include of it is a permerror, a DKIM key is not
// there (permerror), a _dmarc name has no policy (the organisational
// domain is asked next). SPF first shortens a long macro expansion as
// RFC 7208 §7.3 says (spfNames).

// A name holding an internationalised label (a DKIM d= or an ARC
// seal's d= written as a U-label, RFC 8616 §4) is asked as DNS holds it:
// each such label as its A-label (lookupName), before the guard's
// check, so that the key or policy published at the A-label is found
// instead of a query for a name DNS does not hold.

// lookupName is name as DNS holds it (mailaddr.DomainKey): each label
// holding non-ASCII characters as its A-label, the others ("_dmarc" and
// "_domainkey" among them) in lower case, which DNS does not tell from
// how they were written. A name IDNA refuses is left as written: no
// record exists at it, and the guard or the server answers so.
func lookupName(name string) string { return mailaddr.DomainKey(name) }

// maxDomainName is the longest domain name in text form, without the
// final dot (RFC 1035 §2.3.4: 255 octets on the wire).
const maxDomainName = 253

// validDomainName: name (a final dot allowed) can be a domain name
// (resolver.IsDomainName: at most 253 characters, labels of 1–63).
func validDomainName(name string) bool { return name != "." && resolver.IsDomainName(name) }

// errNoSuchName is the answer for a name that cannot exist.
func errNoSuchName(name string) error {
	return &net.DNSError{Err: "not a valid domain name: no record can exist", Name: name, IsNotFound: true}
}

// nameGuard is a resolver that answers names that cannot exist "not
// found" without asking.
type nameGuard struct{ resolver.Resolver }

func (g nameGuard) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	name = lookupName(name)
	if !validDomainName(name) {
		return nil, errNoSuchName(name)
	}
	return g.Resolver.LookupMX(ctx, name)
}

func (g nameGuard) LookupHost(ctx context.Context, host string) ([]string, error) {
	host = lookupName(host)
	if net.ParseIP(host) == nil && !validDomainName(host) {
		return nil, errNoSuchName(host)
	}
	return g.Resolver.LookupHost(ctx, host)
}

func (g nameGuard) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	host = lookupName(host)
	if net.ParseIP(host) == nil && !validDomainName(host) {
		return nil, errNoSuchName(host)
	}
	return g.Resolver.LookupIPAddr(ctx, host)
}

func (g nameGuard) LookupTXT(ctx context.Context, name string) ([]string, error) {
	name = lookupName(name)
	if !validDomainName(name) {
		return nil, errNoSuchName(name)
	}
	return g.Resolver.LookupTXT(ctx, name)
}

func (g nameGuard) Lookup(ctx context.Context, name string, qtype uint16) (*resolver.Answer, error) {
	name = lookupName(name)
	if !validDomainName(name) {
		return nil, errNoSuchName(name)
	}
	return g.Resolver.Lookup(ctx, name, qtype)
}

// spfNames is the resolver SPF evaluation asks: the SPF library does
// not shorten a macro expansion longer than 253 characters, so this
// does, as RFC 7208 §7.3 says: "the left side is truncated to fit, by
// removing successive labels (and their following dots) until the total
// length does not exceed 253 characters". A name without macros is its
// own expansion; one of at most 253 characters is unchanged.
//
// It also gives the library each SPF record as it applies to the
// client's address family (spfRecordFor): the library compares an ip4 or
// ip6 mechanism's address with the client's whatever their families,
// and an IPv4 client matched ip6:::ffff:a.b.c.d and ip6:::ffff:0:0/96.
type spfNames struct {
	nameGuard
	v4 bool // the client is an IPv4 client (a v4-mapped address unmapped)
}

// truncateSPFName applies RFC 7208 §7.3 to name.
func truncateSPFName(name string) string {
	dot := strings.HasSuffix(name, ".")
	n := strings.TrimSuffix(name, ".")
	for len(n) > maxDomainName {
		i := strings.IndexByte(n, '.')
		if i < 0 {
			break // one label: nothing left to remove; nameGuard refuses it
		}
		n = n[i+1:]
	}
	if dot {
		n += "."
	}
	return n
}

// spfName is the name SPF evaluation looks up for name, a macro's
// expansion (RFC 7208 §7.3): shortened from the left to 253 characters
// (truncateSPFName), then with each backslash written "\\". An
// expansion is bytes, any of them allowed in a label — a sender's local
// part brings "@", "'", a space, a quoted part's backslash — and the
// resolver reads a name as text in which a backslash escapes the next
// byte ("\@", "\065"): a backslash the expansion holds is a byte of
// the name, never an escape, so it is escaped itself. Every other byte
// is one the resolver sends as it is and compares on the wire, however
// a reply spells it (TestSPFMacroOfLocalPartWithSpecialBytes).
func spfName(name string) string {
	return strings.ReplaceAll(truncateSPFName(name), `\`, `\\`)
}

func (s spfNames) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	return s.nameGuard.LookupMX(ctx, spfName(name))
}

func (s spfNames) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	if net.ParseIP(host) != nil {
		return s.nameGuard.LookupIPAddr(ctx, host)
	}
	host = spfName(host)
	addrs, err := s.nameGuard.LookupIPAddr(ctx, host)
	if err != nil || !s.v4 {
		return addrs, err
	}
	// RFC 7208 §5.3, §5.4, §5.7: A records for an IPv4 client.
	return resolver.ForIPv4Client(ctx, s.nameGuard, host, addrs)
}

func (s spfNames) LookupTXT(ctx context.Context, name string) ([]string, error) {
	txts, err := s.nameGuard.LookupTXT(ctx, spfName(name))
	for i, t := range txts {
		txts[i] = spfRecordFor(t, s.v4)
	}
	return txts, err
}

// spfRecordFor is the SPF record txt as it applies to an IPv4 client
// (v4) or an IPv6 one, RFC 7208 §5.6: "ip4" mechanisms match only
// IPv4 clients and "ip6" ones only IPv6 clients, and an ip4-network
// is written as a dotted quad, an ip6-network as an IPv6 address.
//   - An ip6 mechanism, for an IPv4 client, is left out: it cannot
//     match, whatever address it names (::ffff:a.b.c.d included, the
//     test suite's cidr6-ip4 and cidr6-0-ip4), and it asks nothing.
//   - An ip4 mechanism naming an IPv6 address, or an ip6 one naming
//     an IPv4 address, is a syntax error: it is given to the library
//     as a value it refuses (permerror), never compared.
//   - A mechanism the library refuses (ip6:::1/129, ip6:::1//64) is
//     kept as it is, for either client: a syntax error is a permerror
//     whoever asks (RFC 7208 §4.6), so only an ip6 mechanism the
//     library takes is left out for an IPv4 client. A cidr-length with
//     a leading zero (ip4:1.2.3.4/032), which the library takes, is
//     given to it as one it refuses; so is an a or mx mechanism's
//     (a/024, mx:example.com//064).
//
// An ip4 mechanism already never matches an IPv6 client (the client's
// address is unmapped, checkSPF), so it is kept. Text that is no SPF
// record (an exp= explanation) is returned as it is. Terms are split
// on single spaces as the library splits them; a term left out is an
// empty one, which the library skips.
func spfRecordFor(txt string, v4 bool) string {
	if len(txt) < 6 || !strings.EqualFold(txt[:6], "v=spf1") || len(txt) > 6 && txt[6] != ' ' {
		return txt
	}
	terms := strings.Split(txt, " ")
	for i, term := range terms {
		q := ""
		if term != "" && strings.IndexByte("+-~?", term[0]) >= 0 {
			q, term = term[:1], term[1:]
		}
		if m, cidr, ok := strings.Cut(term, "/"); ok && spfAOrMX(m) && cidrLeadingZero(cidr) {
			// The a and mx dual-cidr-length alike (RFC 7208 §5.3,
			// §5.4): a/024 is a syntax error the library takes.
			terms[i] = q + m + "/leading-zero" // "invalid mask"
			continue
		}
		if len(term) < 4 {
			continue
		}
		mech := strings.ToLower(term[:4])
		if mech != "ip4:" && mech != "ip6:" {
			continue
		}
		if !spfIPTermValid(term[4:]) {
			if a, l, ok := strings.Cut(term[4:], "/"); ok && len(l) > 1 && l[0] == '0' {
				// RFC 7208 §5.6: a cidr-length has no leading zero
				// (the test suite's cidr4-032); the library takes one.
				terms[i] = q + mech + a + "/leading-zero" // "invalid mask"
			}
			continue // the library refuses it (permerror), for every client
		}
		a, _, _ := strings.Cut(term[4:], "/")
		addr, err := netip.ParseAddr(a)
		if err != nil || addr.Zone() != "" {
			continue // the library refuses it (permerror)
		}
		switch {
		case mech == "ip4:" && !addr.Is4(), mech == "ip6:" && !addr.Is6():
			terms[i] = q + mech + "wrong-family" // the library: "invalid ipX value"
		case mech == "ip6:" && v4:
			terms[i] = ""
		}
	}
	return strings.Join(terms, " ")
}

// spfIPTermValid reports whether v, the value of an ip4 or ip6
// mechanism, is valid: the library takes it as it parses it (spf's
// ipField: a network when it holds a slash, net.ParseCIDR, an address
// when it does not, net.ParseIP), and a cidr-length has no leading zero
// (RFC 7208 §5.6). A value the library refuses is its permerror.
func spfIPTermValid(v string) bool {
	if _, l, ok := strings.Cut(v, "/"); ok {
		_, _, err := net.ParseCIDR(v)
		return err == nil && (len(l) == 1 || l[0] != '0')
	}
	return net.ParseIP(v) != nil
}

// spfAOrMX reports whether m, a term up to its first slash without its
// qualifier, is an a or mx mechanism (a, a:domain, mx, mx:domain).
func spfAOrMX(m string) bool {
	m = strings.ToLower(m)
	return m == "a" || m == "mx" || strings.HasPrefix(m, "a:") || strings.HasPrefix(m, "mx:")
}

// cidrLeadingZero reports whether cidr, what follows a mechanism's
// first slash (24, /64, 24//64), holds a cidr-length with a leading
// zero, which RFC 7208 §5.6's ABNF refuses.
func cidrLeadingZero(cidr string) bool {
	for _, l := range strings.Split(cidr, "/") {
		if len(l) > 1 && l[0] == '0' {
			return true
		}
	}
	return false
}
