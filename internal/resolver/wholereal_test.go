package resolver

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// Replies as real servers send them are whole: names compressed in
// RDATA (MX, SOA, CNAME, NS, PTR), TXT of many and of empty strings,
// DNSSEC records (RRSIG, NSEC, DS) and an OPT record with options, types
// umbra does not read, a name of 127 labels, and a reply over 512 bytes.
func TestWholeReplyTakesRealReplies(t *testing.T) {
	long := strings.Repeat("a.", 126) + "x." // 127 labels, 255 bytes on the wire
	rrs := []string{
		"ex.test. 60 IN MX 10 mx.ex.test.", "ex.test. 60 IN MX 20 mx2.ex.test.",
		"ex.test. 60 IN SOA ns.ex.test. host.ex.test. 1 2 3 4 5",
		"www.ex.test. 60 IN CNAME ex.test.", "ex.test. 60 IN NS ns.ex.test.",
		"1.0.0.127.in-addr.arpa. 60 IN PTR ex.test.",
		`ex.test. 60 IN TXT "v=spf1" "" "` + strings.Repeat("x", 255) + `" "a"`,
		"ex.test. 60 IN RRSIG MX 13 2 60 20300101000000 20200101000000 1234 ex.test. AAAA",
		"ex.test. 60 IN NSEC a.ex.test. A MX RRSIG NSEC",
		"ex.test. 60 IN DS 1234 13 2 0123456789ABCDEF",
		"_25._tcp.mx.ex.test. 60 IN TLSA 3 1 1 0123456789abcdef",
		"ex.test. 60 IN CAA 0 issue \"ca.test\"",
		long + " 60 IN A 127.0.0.1", long + " 60 IN AAAA ::1",
	}
	m := new(dns.Msg)
	m.SetQuestion("ex.test.", dns.TypeMX)
	m.Response = true
	for _, s := range rrs {
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(s, err)
		}
		m.Answer = append(m.Answer, rr)
	}
	for i := range 20 {
		rr, _ := dns.NewRR("ex.test. 60 IN A 127.0.0." + string(rune('0'+i%10)))
		m.Ns = append(m.Ns, rr)
	}
	m.SetEdns0(1232, true)
	opt := m.IsEdns0()
	opt.Option = append(opt.Option, &dns.EDNS0_PADDING{Padding: make([]byte, 40)}, &dns.EDNS0_EDE{InfoCode: 3, ExtraText: "stale"})
	for _, compress := range []bool{true, false} {
		m.Compress = compress
		p, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		if len(p) <= 512 {
			t.Fatalf("reply of %d bytes, want one over 512", len(p))
		}
		if why := wholeReply(p); why != "" {
			t.Errorf("compress %v: %s", compress, why)
		}
	}
}
