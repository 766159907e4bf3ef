package resolver_test

import (
	"context"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"umbra/internal/resolver/dnstest"
)

// RFC 1035 §4.1: a reply whose sections hold fewer records than its
// header counts (or more), or a record whose RDATA its fields do not
// fill — an SOA cut short between real names, whose five numbers are
// missing — is a broken reply: a temporary failure, the next server
// asked, never the records it holds taken for a whole answer (the DNS
// library reads what is there and corrects the counts, with no error).
func TestReplyCountsMustMatchRecords(t *testing.T) {
	srv := dnstest.StartOn(t, "127.0.0.150:7511",
		"fewer.test. 60 IN MX 10 mx.fewer.test.",
		"more.test. 60 IN MX 10 mx.more.test.",
		"whole.test. 60 IN MX 10 mx.whole.test.",
		"padded.test. 60 IN MX 10 mx.padded.test.",
		"soacut.test. 60 IN A 127.0.0.215",
		"soacut.test. 60 IN SOA ns.soacut.test. admin.soacut.test. 1 60 60 600 60",
	)
	srv.Mangle("fewer.test", func(r *dns.Msg) []byte { // ANCOUNT 9, one MX
		p, _ := r.Pack()
		p[6], p[7] = 0, 9
		return p
	})
	srv.Mangle("more.test", func(r *dns.Msg) []byte { // ANCOUNT 1, two MX records
		r.Answer = append(r.Answer, dns.Copy(r.Answer[0]))
		r.Answer[1].(*dns.MX).Mx = "mx2.more.test."
		p, _ := r.Pack()
		p[6], p[7] = 0, 1
		return p
	})
	srv.Mangle("soacut.test", func(r *dns.Msg) []byte { // NODATA, its SOA without the five numbers
		r.Compress = false
		p, _ := r.Pack()
		if len(r.Ns) != 1 {
			t.Errorf("no SOA in the authority section: %v", r)
			return p
		}
		p = p[:len(p)-20]
		rdlen := int(p[len(p)-1-len("\x02ns\x06soacut\x04test\x00\x05admin\x06soacut\x04test\x00")]) // low byte: short names
		rdlen -= 20
		p[len(p)-1-len("\x02ns\x06soacut\x04test\x00\x05admin\x06soacut\x04test\x00")] = byte(rdlen)
		return p
	})
	srv.Mangle("padded.test", func(r *dns.Msg) []byte { // whole, then zero bytes up to 512
		p, _ := r.Pack()
		return append(p, make([]byte, 512-len(p))...)
	})
	c := newClient(t, srv.Addr)
	ctx := context.Background()
	for _, tc := range []struct{ dom, want string }{
		{"fewer.test", "the header counts 9 answer records, the packet holds 1"},
		{"more.test", "after the records its header counts"},
	} {
		mx, err := c.LookupMX(ctx, tc.dom)
		if err == nil {
			t.Errorf("MX %s: %v, no error: want a broken reply", tc.dom, mx)
			continue
		}
		if de := dnsErr(t, err); !de.IsTemporary || de.IsNotFound || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("MX %s: %v, want temporary, saying %q", tc.dom, err, tc.want)
		}
	}
	for _, dom := range []string{"whole.test", "padded.test"} {
		if mx, err := c.LookupMX(ctx, dom); err != nil || len(mx) != 1 {
			t.Errorf("whole reply %s: %v %v", dom, mx, err)
		}
	}
	_, err := c.LookupMX(ctx, "soacut.test")
	if err == nil {
		t.Fatal("NODATA with an SOA cut short: no error")
	}
	if de := dnsErr(t, err); !de.IsTemporary || de.IsNotFound || !strings.Contains(err.Error(), "the five numbers cut short") {
		t.Errorf("NODATA with an SOA cut short: %v, want a temporary failure naming the SOA's numbers", err)
	}
}
