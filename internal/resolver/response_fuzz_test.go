package resolver

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// FuzzResponse feeds arbitrary bytes, as a server's reply to a query for
// a.test A, through what the client does with a reply: the parse, the
// question check, the answer's records with CNAMEs followed, and a
// denial's negative TTL. None may panic; a reply whose question is not
// the query's is refused; the records taken are of the type asked, at
// the name asked or an alias followed from it, the chain bounded.
func FuzzResponse(f *testing.F) {
	q := new(dns.Msg)
	q.SetQuestion("a.test.", dns.TypeA)
	seed := func(build func(r *dns.Msg)) {
		r := new(dns.Msg)
		r.SetReply(q)
		build(r)
		if b, err := r.Pack(); err == nil {
			f.Add(b)
		}
	}
	rr := func(s string) dns.RR { x, _ := dns.NewRR(s); return x }
	seed(func(r *dns.Msg) { r.Answer = []dns.RR{rr("a.test. 60 IN A 192.0.2.1")} })
	seed(func(r *dns.Msg) {
		r.Answer = []dns.RR{rr("a.test. 60 IN CNAME b.test."), rr("b.test. 30 IN CNAME a.test."), rr("b.test. 60 IN A 192.0.2.2")}
	})
	seed(func(r *dns.Msg) {
		r.Rcode = dns.RcodeNameError
		r.Ns = []dns.RR{rr("test. 300 IN SOA ns.test. h.test. 1 2 3 4 60")}
	})
	seed(func(r *dns.Msg) {
		r.Question[0].Name = "evil.test."
		r.Answer = []dns.RR{rr("a.test. 60 IN A 192.0.2.66")}
	})
	seed(func(r *dns.Msg) { r.Question = nil })
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := new(dns.Msg)
		if r.Unpack(b) != nil {
			return
		}
		if sameQuestion(r, q) {
			got := r.Question[0]
			if len(r.Question) != 1 || got.Qtype != dns.TypeA || got.Qclass != dns.ClassINET || !strings.EqualFold(got.Name, "a.test.") {
				t.Fatalf("question %v taken for a.test. IN A", r.Question)
			}
		}
		seen := map[string]bool{"a.test.": true}
		rrs, ttl, chain, loop := answerRRs(r, "a.test.", dns.TypeA, seen)
		if len(chain) > maxCNAMEs+1 {
			t.Fatalf("%d aliases followed", len(chain))
		}
		if loop != "" && len(rrs) != 0 {
			t.Fatalf("records taken from a CNAME loop: %v", rrs)
		}
		names := map[string]bool{"a.test.": true}
		for _, c := range chain {
			names[strings.ToLower(c)] = true
		}
		for _, x := range rrs {
			if x.Header().Rrtype != dns.TypeA || !names[strings.ToLower(x.Header().Name)] {
				t.Fatalf("record %v taken for a.test. A (chain %v)", x, chain)
			}
		}
		if ttl < 0 {
			t.Fatalf("negative TTL %v", ttl)
		}
		negativeTTL(r)
	})
}
