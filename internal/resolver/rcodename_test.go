package resolver_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"umbra/internal/resolver/dnstest"
)

// A server's failure is said by its RCODE's name, and by its number
// where the code has none (12–15 are unassigned, RFC 6895 §2.3): never
// "server answered " with nothing after it. An extended RCODE (its
// upper bits in the OPT record, RFC 6891 §6.1.3) is named the same way. — the words route explain,
// a recipient's last reply, a DSN and the log give the operator.
func TestEveryRcodeNamed(t *testing.T) {
	srv := dnstest.StartOn(t, "127.0.0.125:9403")
	for _, rc := range []int{1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, dns.RcodeBadCookie, 4000} {
		suffix := fmt.Sprintf("rc%d.test", rc)
		srv.Mangle(suffix, func(r *dns.Msg) []byte {
			r.Rcode = rc
			r.Answer = nil
			if rc > 15 {
				r.SetEdns0(1232, false)
			}
			out, err := r.Pack()
			if err != nil {
				t.Error(err)
			}
			return out
		})
		_, err := newClient(t, srv.Addr).LookupMX(context.Background(), suffix)
		de := dnsErr(t, err)
		want := "server answered " + dns.RcodeToString[rc]
		if dns.RcodeToString[rc] == "" {
			want = fmt.Sprintf("server answered RCODE %d", rc)
		}
		if !de.IsTemporary || !strings.HasSuffix(de.Err, want) {
			t.Errorf("RCODE %d: %+v, want a temporary failure ending %q", rc, de, want)
		}
	}
}
