package resolver

import (
	"errors"
	"fmt"
	"net"
	"strings"
)

// HostLookup is the failed address lookup of one mail host of a
// destination: an MX host, or the domain itself when it has no MX.
type HostLookup struct {
	Host string
	Err  error
}

// NumericMX is the failed lookup of an MX record's exchange that is
// IP-address text ("10 192.0.2.1."): an MX record names a host (RFC 5321
// §5.1, RFC 1035 §3.3.9), and a name that spells an address names none.
// It is skipped, never connected to (a resolver would answer it with the
// address it spells, which no policy allowed), and counts as a denial:
// with no other usable host, NoAddress fails the recipients with 550
// 5.4.4 naming it — the domain's own misconfiguration, which no retry
// mends, as an MX host without an address.
func NumericMX(host string) error {
	return &net.DNSError{Err: "the MX record names an IP address, not a host name (RFC 5321 §5.1): skipped", Name: host, IsNotFound: true}
}

// NullMX reports whether mxs, a domain's MX records, are a null MX
// (RFC 7505 §3): exactly one record, of preference 0, whose exchange is
// the root ("."). The domain takes no mail. Nothing else is one: a "."
// exchange of another preference or beside other records names no host
// (RootMX), and a record cut short is no answer at all (the resolver's
// cutRecord: a temporary failure).
func NullMX(mxs []*net.MX) bool {
	return len(mxs) == 1 && mxs[0].Pref == 0 && mxs[0].Host == "."
}

// RootMX is the failed lookup of an MX record's exchange "." that is not
// a null MX (NullMX): the root names no host. It is skipped and counts
// as a denial, as NumericMX does: with no other usable host, NoAddress
// fails the recipients with 550 5.4.4 naming it — the domain's own
// record, which no retry mends.
func RootMX(pref int) error {
	return &net.DNSError{Err: fmt.Sprintf("the MX record's exchange is the root (\".\"), which names no host; of preference %d, or beside other MX records, it is no null MX (RFC 7505: the only MX record, of preference 0): skipped", pref),
		Name: ".", IsNotFound: true}
}

// NoAddress is what a destination none of whose mail hosts has an
// address comes to: the reply delivery gives and route explain shows.
// implicit: the one host is the domain itself, for want of MX records
// (RFC 5321 §5.1). Permanent when every lookup was a denial (NXDOMAIN,
// or neither A nor AAAA): 550 5.1.2 when the domain itself does not
// exist; else 550 5.4.4 naming each host and the lookup that failed —
// the domain answered, what is missing is its host's address, and its
// postmaster is told so. Otherwise (a timeout, SERVFAIL, a CNAME loop)
// 451 4.4.4, retried.
func NoAddress(domain string, implicit bool, failed []HostLookup) (reply string, permanent bool) {
	permanent = len(failed) > 0
	var errs []string
	for i, f := range failed {
		var de *net.DNSError
		if !errors.As(f.Err, &de) || !de.IsNotFound || de.IsTemporary {
			permanent = false
		}
		if i < 3 {
			errs = append(errs, f.Err.Error())
		}
	}
	if len(failed) > 3 {
		errs = append(errs, fmt.Sprintf("and %d more", len(failed)-3))
	}
	detail := strings.Join(errs, "; ")
	var de *net.DNSError
	gone := implicit && permanent && errors.As(failed[0].Err, &de) && de.Err == "no such host" // NXDOMAIN, no alias
	switch {
	case !permanent:
		return "451 4.4.4 no address for any host of " + domain + ": " + detail, false
	case gone:
		return "550 5.1.2 domain " + domain + " not found: " + detail, true
	case implicit:
		return "550 5.4.4 domain " + domain + " has no MX record and no address: " + detail, true
	case len(failed) == 1:
		return "550 5.4.4 MX host " + failed[0].Host + " of " + domain + " has no address: " + detail, true
	}
	var hosts []string
	for _, f := range failed {
		hosts = append(hosts, f.Host)
	}
	if len(hosts) > 3 {
		hosts = append(hosts[:3], "...")
	}
	return "550 5.4.4 no MX host of " + domain + " (" + strings.Join(hosts, ", ") + ") has an address: " + detail, true
}
