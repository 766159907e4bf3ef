package smtp

import (
	"strings"
	"testing"

	"umbra/internal/mailaddr"
	"umbra/internal/routing"
)

// RcptKeyIn makes the domain's key once and gives mailaddr.RcptKey's
// answer: the local part's ASCII case folded for an authoritative
// domain only, either form of an internationalised domain, a final dot.
func TestRcptKeyInIsRcptKey(t *testing.T) {
	tbl := routing.NewTable([]routing.AcceptedDomain{
		{Domain: "example.test", Type: routing.Authoritative},
		{Domain: "xn--bcher-kva.test", Type: routing.Authoritative},
		{Domain: "relay.test", Type: routing.InternalRelay},
	}, nil)
	for _, addr := range []string{
		"Td@Example.TEST", "Td@example.test.", "Td@bücher.test", "Td@XN--BCHER-KVA.test",
		"Td@Relay.test", "Td@other.test", "Td@BÜCHER.other", "example.test", "Td@",
	} {
		a := strings.TrimSuffix(addr, ".")
		at := strings.LastIndexByte(a, '@')
		owned := at >= 0 && tbl.Accepted(a[at+1:]) == routing.Authoritative
		if got, want := RcptKeyIn(tbl, addr), mailaddr.RcptKey(a, owned); got != want {
			t.Errorf("%q: %q, want %q", addr, got, want)
		}
		if got, want := RcptKeyIn(nil, addr), mailaddr.RcptKey(a, false); got != want {
			t.Errorf("%q, no table: %q, want %q", addr, got, want)
		}
	}
}
