package resolver

import (
	"errors"
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
// RDATA fits in the packet, every name is one (nameAt: its compression
// pointers inside the packet, or its RDATA, and no loop; at most 255
// octets; no label of a reserved type), the RDATA of each type umbra
// reads (A, AAAA, MX, CNAME, PTR, NS, TXT, TLSA, SOA) is filled exactly
// by its fields, and that of every other type is one the library can
// read. Such a reply is broken — a temporary failure, the next server
// asked — as a reply the library cannot parse is
// (TestReplyCountsMustMatchRecords); and every reply the library cannot
// parse is named here, in these words, never the library's
// (TestUnreadableReplySaidInUmbrasWords, FuzzUnreadableReplyNamed).
func wholeReply(p []byte) string {
	if len(p) < 12 {
		return fmt.Sprintf("malformed reply: %d bytes, shorter than a DNS header (12)", len(p))
	}
	count := func(i int) int { return int(p[i])<<8 | int(p[i+1]) }
	qd, an, ns, ar := count(4), count(6), count(8), count(10)
	off := 12
	for i := range qd {
		end, why := nameAt(p, off, len(p), "the packet")
		if why != "" && why != cutShort {
			return fmt.Sprintf("malformed reply: question %d: its name: %s", i+1, why)
		}
		if why != "" || end+4 > len(p) {
			return fmt.Sprintf("malformed reply: the header counts %d questions, the packet holds %d", qd, i)
		}
		off = end + 4
	}
	for _, sec := range []struct {
		name string
		n    int
	}{{"answer", an}, {"authority", ns}, {"additional", ar}} {
		for i := range sec.n {
			end, why := nameAt(p, off, len(p), "the packet")
			if why != "" && why != cutShort {
				return fmt.Sprintf("malformed reply: %s record %d: its owner name: %s", sec.name, i+1, why)
			}
			if why != "" || end+10 > len(p) {
				return fmt.Sprintf("malformed reply: the header counts %d %s records, the packet holds %d", sec.n, sec.name, i)
			}
			typ := uint16(count(end))
			start := off
			rec := func() string { // named only when broken: a whole reply costs no words
				owner, _, _ := dns.UnpackDomainName(p, start) // a name: nameAt said so
				return fmt.Sprintf("%s record %d (%s of %s)", sec.name, i+1, dns.Type(typ), owner)
			}
			rdlen := count(end + 8)
			rd := end + 10
			if rd+rdlen > len(p) {
				return fmt.Sprintf("malformed reply: %s has RDLENGTH %d, the packet holds %d bytes of it", rec(), rdlen, len(p)-rd)
			}
			if what := rdataWhole(p, rd, rd+rdlen, typ); what != "" {
				return fmt.Sprintf("malformed reply: %s of RDLENGTH %d: %s", rec(), rdlen, what)
			}
			if _, ours := rdataMin[typ]; ours {
				off = rd + rdlen
				continue
			}
			if _, _, err := dns.UnpackRR(p, off); err != nil {
				// A type umbra does not read, whose fields the library
				// could not read from its RDATA.
				return fmt.Sprintf("malformed reply: %s of RDLENGTH %d: its RDATA is no %s record's fields", rec(), rdlen, dns.Type(typ))
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

// unreadable is the error of a reply p the DNS library could not parse:
// what wholeReply names, which it always does for such a reply
// (FuzzUnreadableReplyNamed) — never the library's own words, with the
// Go field path it prefixes them with ("MX.Mx: dns: too many
// compression pointers"), in a deferral's reply or a bounce.
func unreadable(p []byte) error {
	if why := wholeReply(p); why != "" {
		return errors.New(why)
	}
	return fmt.Errorf("malformed reply: %d bytes that cannot be read as a DNS reply", len(p))
}

// cutShort is nameAt's word for a name that runs past its limit.
const cutShort = "cut short"

// nameAt checks the name at off, read within p[:limit] (limit: the end
// of the packet, or of the RDATA holding the name, where the library
// stops reading it), as the DNS library reads one: labels, ended by the
// root label, compression pointers followed to a target before limit,
// at most 126 of them (more is a loop), at most 255 octets in all. It
// returns the offset after the name where it stands (after its first
// pointer, if any), or why it is none: cutShort when it runs past
// limit, or what is wrong, within where ("the packet", "its RDATA").
func nameAt(p []byte, off, limit int, where string) (int, string) {
	end, octets, ptrs := -1, 1, 0
	for {
		if off >= limit {
			return 0, cutShort
		}
		c := int(p[off])
		off++
		switch c & 0xC0 {
		case 0x00:
			if c == 0 {
				if end < 0 {
					end = off
				}
				return end, ""
			}
			if off+c > limit {
				return 0, cutShort
			}
			if octets += c + 1; octets > 255 {
				return 0, "over 255 octets"
			}
			off += c
		case 0xC0:
			if off >= limit {
				return 0, cutShort
			}
			if end < 0 {
				end = off + 1
			}
			if ptrs++; ptrs > 126 {
				return 0, "a compression pointer loop"
			}
			off = (c&0x3F)<<8 | int(p[off])
			if off >= limit {
				return 0, fmt.Sprintf("a compression pointer past the end of %s (to offset %d of %d)", where, off, limit)
			}
		default:
			return 0, fmt.Sprintf("a label of a type no name may hold (0x%02x)", c&0xC0)
		}
	}
}

// rdataWhole checks the RDATA of a type umbra reads, p[off:end]: its
// fields fill it exactly. "" when they do, or for another type.
func rdataWhole(p []byte, off, end int, typ uint16) string {
	name := func(what string) string {
		n, why := nameAt(p, off, end, "its RDATA")
		switch why {
		case "":
			off = n
			return ""
		case cutShort:
			return what + " cut short"
		}
		return what + ": " + why
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
		if end-off == 1 {
			return "1 byte after its fields"
		}
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
