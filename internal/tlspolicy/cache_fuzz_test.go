package tlspolicy

import (
	"testing"
	"time"
)

// A cached policy is read back from the transport database: a damaged
// value is refused (the policy is fetched again), never read as a
// policy ParsePolicy would not have given — an unknown mode read as
// one that does not enforce, a max_age outside 0…31557600 s, an mx
// pattern the policy file could not hold — and what is read is cached
// again as it was.
func FuzzDecodeSTS(f *testing.F) {
	p := &STSPolicy{Mode: ModeEnforce, MaxAge: 86400 * time.Second, ID: "20260102", Fetched: time.Unix(1764536000, 5),
		MX: []string{"mail.example.com", "*.example.net"}}
	f.Add(p.encode())
	f.Add((&STSPolicy{Mode: ModeNone, ID: "x"}).encode())
	f.Add([]byte("1\nenforce\n-5\nid\n0\nmx.example\n"))
	f.Add([]byte("1\nenforced\n86400\nid\n0\nmx.example\n"))
	f.Add([]byte("1\ntesting\n99999999999999\nid\n0\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := decodeSTS(b)
		if err != nil {
			return
		}
		if q.Mode != ModeEnforce && q.Mode != ModeTesting && q.Mode != ModeNone || q.MaxAge < 0 || q.MaxAge > maxMaxAge {
			t.Fatalf("%q read as %+v", b, q)
		}
		for _, m := range q.MX {
			if !validMXPattern(m) {
				t.Fatalf("%q read with mx %q", b, m)
			}
			q.MatchMX(m)
		}
		again, err := decodeSTS(q.encode())
		if err != nil || again.Mode != q.Mode || again.MaxAge != q.MaxAge || again.ID != q.ID || !again.Fetched.Equal(q.Fetched) ||
			len(again.MX) != len(q.MX) {
			t.Fatalf("%+v cached again reads as %+v, %v", q, again, err)
		}
	})
}
