package resolver

import (
	"context"
	"net"
	"slices"

	"github.com/miekg/dns"
)

// ForIPv4Client is addrs, LookupIPAddr's answer for host, as an IPv4
// client's address is compared with it: without the AAAA records that
// hold a v4-mapped address (::ffff:a.b.c.d). Compared as addresses such
// a record is a.b.c.d, yet the checks that compare a client with a
// name's addresses (SPF's a, mx and exists, RFC 7208 §5; forward-
// confirmed reverse DNS) ask A records for an IPv4 client, and an AAAA
// record is never one of them. As many are left out as r's AAAA answer
// for host holds, the last first (LookupIPAddr puts the A records
// first), so an A record of the same address stays; a hosts_file entry
// is kept unless DNS holds it as an AAAA record too. An AAAA answer
// that cannot be had leaves addrs as they are (the daemon's Cache
// answers it from the lookup just made); none left is the A lookup's
// denial.
func ForIPv4Client(ctx context.Context, r Resolver, host string, addrs []net.IPAddr) ([]net.IPAddr, error) {
	mapped := false
	for _, a := range addrs {
		if len(a.IP) == net.IPv6len && a.IP.To4() != nil {
			mapped = true
		}
	}
	if !mapped {
		return addrs, nil
	}
	ans, err := r.Lookup(ctx, host, dns.TypeAAAA)
	if err != nil || ans == nil {
		return addrs, nil
	}
	out := slices.Clone(addrs)
	for _, rr := range ans.RRs {
		aaaa, ok := rr.(*dns.AAAA)
		if !ok || aaaa.AAAA.To4() == nil {
			continue
		}
		for i := len(out) - 1; i >= 0; i-- {
			if out[i].IP.Equal(aaaa.AAAA) {
				out = slices.Delete(out, i, i+1)
				break
			}
		}
	}
	if len(out) == 0 {
		return nil, &net.DNSError{Err: "no A record", Name: host, IsNotFound: true}
	}
	return out, nil
}
