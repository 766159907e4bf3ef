package resolver

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// FuzzUnreadableReplyNamed feeds arbitrary bytes, as a server's reply,
// to the DNS library's parse and to wholeReply: every reply the library
// cannot parse is named by wholeReply, in umbra's words ("malformed
// reply: …"), so that no library text ("MX.Mx: dns: too many
// compression pointers", "dns: bad rdlength") reaches a deferral's
// reply, route explain or a bounce (TestUnreadableReplySaidInUmbrasWords);
// and a reply both read, wholeReply taking it whole, is the one the
// library read: every record its header counts.
func FuzzUnreadableReplyNamed(f *testing.F) {
	q := new(dns.Msg)
	q.SetQuestion("a.test.", dns.TypeMX)
	r := new(dns.Msg)
	r.SetReply(q)
	base, _ := r.Pack()
	add := func(typ uint16, rdlen int, rdata ...byte) {
		p := append([]byte(nil), base...)
		p[7] = 1
		p = append(p, 0xc0, 12, byte(typ>>8), byte(typ), 0, 1, 0, 0, 0, 60, byte(rdlen>>8), byte(rdlen))
		f.Add(append(p, rdata...))
	}
	at := len(base) + 12
	add(dns.TypeMX, 4, 0, 10, 0xc0|byte(at>>8), byte(at+2)) // exchange: a pointer to itself
	add(dns.TypeMX, 4, 0, 10, 0xc3, 0xff)                   // a pointer past the end
	add(dns.TypeA, 200, 127, 0, 0, 1)                       // RDLENGTH past the end
	add(dns.TypeA, 5, 127, 0, 0, 1, 9)                      // an A of 5 bytes
	add(dns.TypeRRSIG, 3, 0, 1, 2)                          // a type umbra does not read
	add(dns.TypeSRV, 7, 0, 1, 0, 2, 0, 25, 0x41)            // a target of a reserved label type
	f.Add(append(append([]byte(nil), base[:12]...), 0x41, 'x', 0, 0, 15, 0, 1))
	f.Add([]byte("\x12\x34\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00 forty random bytes, more or less!"))
	f.Fuzz(func(t *testing.T, p []byte) {
		why := wholeReply(p)
		if r := new(dns.Msg); r.Unpack(p) == nil {
			// Both read it: a reply wholeReply takes whole is the one the
			// library read, every record its header counts (the library
			// corrects a lying count to what it read, with no error).
			if why != "" || len(p) < 12 {
				return
			}
			count := func(i int) int { return int(p[i])<<8 | int(p[i+1]) }
			if len(r.Question) != count(4) || len(r.Answer) != count(6) || len(r.Ns) != count(8) || len(r.Extra) != count(10) {
				t.Fatalf("% x: whole, and the library read %d/%d/%d/%d records of %d/%d/%d/%d",
					p, len(r.Question), len(r.Answer), len(r.Ns), len(r.Extra), count(4), count(6), count(8), count(10))
			}
			return
		}
		if why == "" {
			t.Fatalf("the library cannot parse % x, and wholeReply names nothing", p)
		}
		if !strings.HasPrefix(why, "malformed reply: ") || strings.Contains(why, "dns:") {
			t.Fatalf("% x: %q, want umbra's words", p, why)
		}
	})
}
