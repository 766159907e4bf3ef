package resolver

import (
	"net"
	"testing"

	"github.com/miekg/dns"
)

// FuzzCutRecord feeds arbitrary bytes, as a server's reply to a query
// for a.test MX, through the parse and cutRecord, the check that makes
// a record cut short a temporary failure (TestCutRecordIsTemporary).
// Whatever cutRecord lets through holds whole values: an MX, CNAME,
// PTR or NS record a name (at least the root "."), a TXT record at
// least one string, an A or AAAA record an address of its family, a
// TLSA record its three fields — never a field the DNS library left
// empty because the packet or the RDLENGTH ended first. So an MX
// answer is a null MX (NullMX) only as one record of preference 0 and
// exchange ".", never for want of an exchange.
func FuzzCutRecord(f *testing.F) {
	q := new(dns.Msg)
	q.SetQuestion("a.test.", dns.TypeMX)
	whole := func(rrs ...string) {
		r := new(dns.Msg)
		r.SetReply(q)
		for _, s := range rrs {
			rr, err := dns.NewRR(s)
			if err != nil {
				f.Fatal(err)
			}
			r.Answer = append(r.Answer, rr)
		}
		b, err := r.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	whole("a.test. 60 IN MX 0 .")
	whole("a.test. 60 IN MX 10 mx.a.test.", "a.test. 60 IN MX 20 mx2.a.test.")
	whole("a.test. 60 IN TXT \"v=spf1 -all\"", "a.test. 60 IN PTR b.test.")
	whole("a.test. 60 IN TLSA 3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	// The defect: an MX of a preference and no exchange, the packet's
	// last bytes (…0000 0f00 0100 0000 3c00 0200 14).
	r := new(dns.Msg)
	r.SetReply(q)
	b, _ := r.Pack()
	b[7] = 1 // ANCOUNT
	b = append(b, 0xc0, 0x0c, 0x00, 0x0f, 0x00, 0x01, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x02, 0x00, 0x14)
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		r := new(dns.Msg)
		if r.Unpack(b) != nil || cutRecord(r) != "" {
			return
		}
		var mxs []*net.MX
		for _, sec := range [][]dns.RR{r.Answer, r.Ns} {
			for _, rr := range sec {
				switch v := rr.(type) {
				case *dns.MX:
					if v.Mx == "" {
						t.Fatalf("MX without an exchange let through: %v", v)
					}
					mxs = append(mxs, &net.MX{Host: v.Mx, Pref: v.Preference})
				case *dns.CNAME:
					if v.Target == "" {
						t.Fatalf("CNAME without a target let through: %v", v)
					}
				case *dns.PTR:
					if v.Ptr == "" {
						t.Fatalf("PTR without a name let through: %v", v)
					}
				case *dns.NS:
					if v.Ns == "" {
						t.Fatalf("NS without a name let through: %v", v)
					}
				case *dns.TXT:
					if len(v.Txt) == 0 {
						t.Fatalf("TXT without a string let through: %v", v)
					}
				case *dns.A:
					if len(v.A) != net.IPv4len {
						t.Fatalf("A of %d bytes let through: %v", len(v.A), v)
					}
				case *dns.AAAA:
					if len(v.AAAA) != net.IPv6len {
						t.Fatalf("AAAA of %d bytes let through: %v", len(v.AAAA), v)
					}
				case *dns.TLSA:
					if v.Hdr.Rdlength < 3 {
						t.Fatalf("TLSA of %d bytes let through: %v", v.Hdr.Rdlength, v)
					}
				}
			}
		}
		if NullMX(mxs) && (mxs[0].Host != "." || mxs[0].Pref != 0) {
			t.Fatalf("null MX taken from %v", mxs[0])
		}
	})
}
