package connfilter

import (
	"net"
	"net/netip"
	"testing"

	"github.com/miekg/dns"

	"umbra/internal/config"
)

// A DNS list's answer is anyone's bytes on the wire: whatever message
// they unpack to, it reads as clear, listed with each of its reasons
// once, or misconfigured with what was wrong, never a panic.
func FuzzReadAnswer(f *testing.F) {
	msg := func(addrs ...string) []byte {
		m := new(dns.Msg)
		m.SetQuestion("2.0.0.127.zen.example.", dns.TypeA)
		m.Response = true
		for _, a := range addrs {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: "2.0.0.127.zen.example.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
				A: net.ParseIP(a)})
		}
		m.Answer = append(m.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: "x.", Rrtype: dns.TypeTXT, Class: dns.ClassINET}, Txt: []string{"why"}})
		b, _ := m.Pack()
		return b
	}
	f.Add(msg("127.0.0.2"))
	f.Add(msg("127.0.0.4", "127.0.0.10", "127.0.0.2"))
	f.Add(msg("127.255.255.254"))
	f.Add(msg("10.0.0.1"))
	f.Add(msg())
	r, _ := config.ParseReturnCode("127.0.0.2")
	r2, _ := config.ParseReturnCode("127.0.0.4-127.0.0.7")
	lists := []*list{{zone: "zen.example"}, {zone: "zen.example", codes: []code{{r: r, reason: "spam source"}, {r: r2, reason: "exploited"}}}}
	f.Fuzz(func(t *testing.T, b []byte) {
		m := new(dns.Msg)
		if m.Unpack(b) != nil {
			return
		}
		for _, l := range lists {
			res := readAnswer(l, m.Answer)
			if res.l != l {
				t.Fatalf("result for another list")
			}
			switch res.state {
			case clean:
				if len(res.reasons) != 0 {
					t.Fatalf("clear with reasons %q", res.reasons)
				}
			case listed:
				seen := map[string]bool{}
				for _, why := range res.reasons {
					if why == "" || seen[why] {
						t.Fatalf("reasons %q", res.reasons)
					}
					seen[why] = true
				}
				if len(res.reasons) == 0 {
					t.Fatal("listed without a reason")
				}
			case misconfigured:
				if res.detail == "" {
					t.Fatal("misconfigured without a detail")
				}
				for _, rr := range m.Answer {
					if a, ok := rr.(*dns.A); ok {
						if addr, ok := netip.AddrFromSlice(a.A.To4()); ok && !config.IsDNSBLAnswer(addr) {
							return
						}
					}
				}
				t.Fatal("misconfigured by no stray answer")
			default:
				t.Fatalf("state %q", res.state)
			}
		}
	})
}
