package resolver_test

import (
	"context"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"umbra/internal/resolver/dnstest"
)

// EDGE (RFC 1035 §4.1.4, §3.3): a reply the DNS library cannot read is
// said in umbra's words — "malformed reply: …", naming the record, its
// type and owner name, and what is wrong with it — never the library's
// text with its Go field path ("MX.Mx: dns: too many compression
// pointers", "dns: bad rdlength"), which reached the deferral's reply,
// route explain and the reply an expiry bounce quotes. Each is a
// temporary failure (the next server asked), as before. The replies are
// crafted bytes sent by a real server over UDP on loopback.
func TestUnreadableReplySaidInUmbrasWords(t *testing.T) {
	srv := dnstest.StartOn(t, "127.0.0.127:10510")
	// rr appends to the reply to r (its answers dropped) one answer
	// record owned by the question's name, of type typ and RDLENGTH
	// rdlen; rdata(at) is its RDATA, at the offset it will be at.
	rr := func(typ uint16, rdlen int, rdata func(at int) []byte) func(r *dns.Msg) []byte {
		return func(r *dns.Msg) []byte {
			r.Answer, r.Ns, r.Extra = nil, nil, nil
			p, err := r.Pack()
			if err != nil {
				t.Error(err)
				return nil
			}
			p[7] = 1 // ANCOUNT
			at := len(p) + 12
			p = append(p, 0xc0, 12, byte(typ>>8), byte(typ), 0, 1, 0, 0, 0, 60, byte(rdlen>>8), byte(rdlen))
			return append(p, rdata(at)...)
		}
	}
	mx := func(exchange func(at int) []byte) func(at int) []byte {
		return func(at int) []byte { return append([]byte{0, 10}, exchange(at+2)...) }
	}
	selfPtr := mx(func(at int) []byte { return []byte{0xc0 | byte(at>>8), byte(at)} })
	srv.Mangle("selfptr.test", rr(dns.TypeMX, 4, selfPtr))
	pastEnd := mx(func(int) []byte { return []byte{0xc3, 0xff} })
	srv.Mangle("pastend.test", rr(dns.TypeMX, 4, pastEnd))
	var long []byte
	for range 5 {
		long = append(long, 60)
		long = append(long, strings.Repeat("x", 60)...)
	}
	long = append(long, 0)
	srv.Mangle("long.test", rr(dns.TypeMX, 2+len(long), mx(func(int) []byte { return long })))
	srv.Mangle("rdlen200.test", rr(dns.TypeA, 200, func(int) []byte { return []byte{127, 0, 0, 1} }))
	srv.Mangle("a5.test", rr(dns.TypeA, 5, func(int) []byte { return []byte{127, 0, 0, 1, 9} }))
	srv.Mangle("label40.test", func(r *dns.Msg) []byte { // the question's name a label of type 0x40
		p, _ := r.Pack()
		return append(p[:12], 0x41, 'x', 0, 0, 15, 0, 1)
	})
	srv.Mangle("txtpast.test", rr(dns.TypeTXT, 3, func(int) []byte { return []byte{5, 'a', 'b'} }))
	srv.Mangle("cnameptr.test", rr(dns.TypeCNAME, 2, func(at int) []byte { return []byte{0xc0 | byte(at>>8), byte(at)} }))
	c := newClient(t, srv.Addr)
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		qtype uint16
		want  string
	}{
		{"selfptr.test", dns.TypeMX, "answer record 1 (MX of selfptr.test.) of RDLENGTH 4: the exchange name: a compression pointer loop"},
		{"pastend.test", dns.TypeMX, "answer record 1 (MX of pastend.test.) of RDLENGTH 4: the exchange name: a compression pointer past the end of its RDATA"},
		{"long.test", dns.TypeMX, "answer record 1 (MX of long.test.) of RDLENGTH 308: the exchange name: over 255 octets"},
		{"rdlen200.test", dns.TypeA, "answer record 1 (A of rdlen200.test.) has RDLENGTH 200, the packet holds 4 bytes of it"},
		{"a5.test", dns.TypeA, "answer record 1 (A of a5.test.) of RDLENGTH 5: 1 byte after its fields"},
		{"label40.test", dns.TypeMX, "question 1: its name: a label of a type no name may hold (0x40)"},
		{"txtpast.test", dns.TypeTXT, "answer record 1 (TXT of txtpast.test.) of RDLENGTH 3: a character-string cut short"},
		{"cnameptr.test", dns.TypeCNAME, "answer record 1 (CNAME of cnameptr.test.) of RDLENGTH 2: the name: a compression pointer loop"},
	} {
		_, err := c.Lookup(ctx, tc.name, tc.qtype)
		if err == nil {
			t.Errorf("%s %s: no error, want a malformed reply", dns.TypeToString[tc.qtype], tc.name)
			continue
		}
		msg := err.Error()
		if de := dnsErr(t, err); !de.IsTemporary || de.IsNotFound {
			t.Errorf("%s: %+v, want a temporary failure", tc.name, de)
		}
		if !strings.Contains(msg, "malformed reply: "+tc.want) {
			t.Errorf("%s %s:\n got %s\nwant malformed reply: %s", dns.TypeToString[tc.qtype], tc.name, msg, tc.want)
		}
		if strings.Contains(msg, "dns:") || strings.Contains(msg, ".Mx") {
			t.Errorf("%s: %s, the DNS library's words", tc.name, msg)
		}
	}
	// The host lookup delivery makes of an MX host with a 5-byte A:
	// route explain and the deferral say it so.
	_, err := c.LookupHost(ctx, "a5.test")
	if err == nil || !strings.Contains(err.Error(), "malformed reply: answer record 1 (A of a5.test.)") || strings.Contains(err.Error(), "dns:") {
		t.Errorf("host a5.test: %v, want a malformed reply in umbra's words", err)
	}
}
