package resolver_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"umbra/internal/resolver/dnstest"
)

// EDGE (RFC 7505, RFC 1035 §3.3): a record whose RDATA is cut short is a
// broken answer — a temporary DNS failure, never a value. The DNS
// library stops reading a record where the packet ends, and takes an
// RDLENGTH of 0 as a record of no fields, so such a record came back
// whole with its missing fields empty: an MX of "0014" (a preference,
// no exchange) as an exchange "" that delivery read as a null MX and
// bounced at once (556 5.1.10); a TXT of no string as an SPF/DMARC
// record of nothing; a TLSA of two bytes as "u s 0" of no data; a PTR
// or CNAME of no name. Each is answered here as the last record of the
// packet, by a real server on loopback; each must be a temporary error
// (IsTemporary, not IsNotFound), as a SERVFAIL is.
func TestCutRecordIsTemporary(t *testing.T) {
	srv := dnstest.StartOn(t, "127.0.0.170:9001",
		"whole.test. 60 IN MX 10 mx.whole.test.",
		"mid.test. 60 IN TXT \"v=spf1 -all\"",
	)
	srv.Raw("badmx2.test", dns.TypeMX, []byte{0x00, 0x14})       // a preference, no exchange
	srv.Raw("badmx0.test", dns.TypeMX, nil)                      // RDLENGTH 0
	srv.Raw("whole.test", dns.TypeMX, []byte{0x00, 0x14})        // after a whole record
	srv.Raw("txt0.test", dns.TypeTXT, nil)                       // no character-string
	srv.Raw("mid.test", dns.TypeTXT, nil)                        // after a whole record
	srv.Raw("_25._tcp.mx.tlsa.test", dns.TypeTLSA, []byte{3, 1}) // no matching type, no data
	srv.Raw("_25._tcp.mx.tlsa0.test", dns.TypeTLSA, nil)         // RDLENGTH 0
	srv.Raw("170.0.0.127.in-addr.arpa", dns.TypePTR, nil)        // no name
	srv.Raw("cname0.test", dns.TypeCNAME, nil)                   // asked as CNAME
	srv.Raw("a0.test", dns.TypeA, nil)                           // RDLENGTH 0
	srv.Raw("aaaa0.test", dns.TypeAAAA, nil)                     // RDLENGTH 0
	srv.Raw("ns0.test", dns.TypeNS, nil)                         // RDLENGTH 0
	srv.Raw("soa.test", dns.TypeSOA, []byte{0, 0, 0, 0, 0, 1})   // names, no numbers
	c := newClient(t, srv.Addr)
	ctx := context.Background()
	temporary := func(what string, err error) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: no error, want a temporary DNS failure", what)
			return
		}
		if de := dnsErr(t, err); !de.IsTemporary || de.IsNotFound {
			t.Errorf("%s: %+v, want temporary, not a denial", what, de)
		}
	}
	for _, dom := range []string{"badmx2.test", "badmx0.test", "whole.test"} {
		mx, err := c.LookupMX(ctx, dom)
		temporary(fmt.Sprintf("MX %s (got %v)", dom, mx), err)
	}
	_, err := c.LookupMX(ctx, "badmx2.test")
	if want := "MX record of badmx2.test. cut short (RDLENGTH 2;"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("MX badmx2.test: %v, want the error to say %q", err, want)
	}
	for _, dom := range []string{"txt0.test", "mid.test"} {
		txt, err := c.LookupTXT(ctx, dom)
		temporary(fmt.Sprintf("TXT %s (got %q)", dom, txt), err)
	}
	names, err := c.LookupAddr(ctx, "127.0.0.170")
	temporary(fmt.Sprintf("PTR (got %q)", names), err)
	for _, q := range []struct {
		name  string
		qtype uint16
	}{
		{"_25._tcp.mx.tlsa.test", dns.TypeTLSA}, {"_25._tcp.mx.tlsa0.test", dns.TypeTLSA},
		{"cname0.test", dns.TypeCNAME}, {"a0.test", dns.TypeA}, {"aaaa0.test", dns.TypeAAAA},
		{"ns0.test", dns.TypeNS}, {"soa.test", dns.TypeSOA},
	} {
		a, err := c.Lookup(ctx, q.name, q.qtype)
		var got []dns.RR
		if a != nil {
			got = a.RRs
		}
		temporary(fmt.Sprintf("%s %s (got %v)", dns.TypeToString[q.qtype], q.name, got), err)
	}
	hosts, err := c.LookupHost(ctx, "a0.test")
	temporary(fmt.Sprintf("host a0.test (got %v)", hosts), err)
}
