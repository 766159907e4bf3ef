package resolver

import (
	"fmt"

	"github.com/miekg/dns"
)

// wholeReply walks a reply's bytes as its header counts them and names
// what is broken, "" when nothing is: the DNS library reads what a
// packet holds and corrects its header counts to that, with no error,
// so a reply whose header counts nine answer records and that holds one
// came back as a complete answer of one; and it reads a record's fields
// until the packet ends, so a record cut short between real names (an
// SOA whose five numbers are missing) passed the length check of
// cutRecord. Here every section holds exactly the records its count
// says, nothing but zero bytes follows the last one (the padding some
// middleboxes add to a short UDP reply, which the library and the C
// resolver ignore, is no record: a reply padded so is whole), every
// RDATA fits in the packet,
// and the RDATA of each type umbra reads (A, AAAA, MX, CNAME, PTR, NS,
// TXT, TLSA, SOA) is filled exactly by its fields. Such a reply is
// broken — a temporary failure, the next server asked — as a reply the
// library cannot parse is (TestReplyCountsMustMatchRecords).
func wholeReply(p []byte) string {
	if len(p) < 12 {
		return fmt.Sprintf("malformed reply: %d bytes, shorter than a DNS header (12)", len(p))
	}
	count := func(i int) int { return int(p[i])<<8 | int(p[i+1]) }
	qd, an, ns, ar := count(4), count(6), count(8), count(10)
	off := 12
	for i := range qd {
		end, ok := skipName(p, off, len(p))
		if !ok || end+4 > len(p) {
			return fmt.Sprintf("malformed reply: the header counts %d questions, the packet holds %d", qd, i)
		}
		off = end + 4
	}
	for _, sec := range []struct {
		name string
		n    int
	}{{"answer", an}, {"authority", ns}, {"additional", ar}} {
		for i := range sec.n {
			end, ok := skipName(p, off, len(p))
			if !ok || end+10 > len(p) {
				return fmt.Sprintf("malformed reply: the header counts %d %s records, the packet holds %d", sec.n, sec.name, i)
			}
			typ := uint16(count(end))
			rdlen := count(end + 8)
			rd := end + 10
			if rd+rdlen > len(p) {
				return fmt.Sprintf("malformed reply: %s record %d (%s) has RDLENGTH %d, the packet holds %d bytes of it",
					sec.name, i+1, dns.TypeToString[typ], rdlen, len(p)-rd)
			}
			if what := rdataWhole(p, rd, rd+rdlen, typ); what != "" {
				return fmt.Sprintf("malformed reply: %s record %d (%s) of RDLENGTH %d: %s",
					sec.name, i+1, dns.TypeToString[typ], rdlen, what)
			}
			off = rd + rdlen
		}
	}
	if off != len(p) && !allZero(p[off:]) {
		return fmt.Sprintf("malformed reply: %d bytes after the records its header counts (%d answer, %d authority, %d additional)",
			len(p)-off, an, ns, ar)
	}
	return ""
}

// skipName returns the offset after the name at off, which must end
// before limit: labels, ended by the root label or a compression
// pointer (whose target the library follows and checks).
func skipName(p []byte, off, limit int) (int, bool) {
	for n := 0; n < 128; n++ {
		if off >= limit {
			return 0, false
		}
		c := int(p[off])
		switch c & 0xC0 {
		case 0x00:
			if c == 0 {
				return off + 1, true
			}
			off += 1 + c
		case 0xC0:
			if off+2 > limit {
				return 0, false
			}
			return off + 2, true
		default:
			return 0, false // extended label types: none umbra reads
		}
	}
	return 0, false
}

// rdataWhole checks the RDATA of a type umbra reads, p[off:end]: its
// fields fill it exactly. "" when they do, or for another type.
func rdataWhole(p []byte, off, end int, typ uint16) string {
	name := func(what string) string {
		n, ok := skipName(p, off, end)
		if !ok {
			return what + " cut short"
		}
		off = n
		return ""
	}
	fixed := func(n int, what string) string {
		if off+n > end {
			return what + " cut short"
		}
		off += n
		return ""
	}
	var why string
	switch typ {
	case dns.TypeA:
		why = fixed(4, "the IPv4 address")
	case dns.TypeAAAA:
		why = fixed(16, "the IPv6 address")
	case dns.TypeMX:
		if why = fixed(2, "the preference"); why == "" {
			why = name("the exchange name")
		}
	case dns.TypeCNAME, dns.TypePTR, dns.TypeNS:
		why = name("the name")
	case dns.TypeTXT:
		if off == end {
			return "no character-string"
		}
		for off < end && why == "" {
			why = fixed(1+int(p[off]), "a character-string")
		}
	case dns.TypeTLSA:
		why = fixed(3, "the usage, selector and matching type")
		off = end // the association data: the rest
	case dns.TypeSOA:
		if why = name("the primary server name"); why == "" {
			if why = name("the mailbox name"); why == "" {
				why = fixed(20, "the five numbers")
			}
		}
	default:
		return ""
	}
	if why != "" {
		return why
	}
	if off != end {
		return fmt.Sprintf("%d bytes after its fields", end-off)
	}
	return ""
}

// allZero reports whether b holds zero bytes only.
func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
