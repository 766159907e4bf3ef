package msgauth

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dmarc"

	"umbra/internal/resolver"
	"umbra/internal/resolver/dnstest"
)

// rt19 fixc F2 (RFC 7489 §6.3): a syntax error in an optional tag of a
// record whose v= and p= are valid is ignored, with the tag's default: it
// never switches p=reject off. An invalid p= (or missing) is the §6.6.3
// case: with a valid rua= the record acts as p=none, else no policy
// applies (permerror).
// rt19 fixc F3 (RFC 7489 §6.6.3): more than one DMARC record at the
// name asked is no policy — discovery ends there, it does not go on to
// the organisational domain.
func TestDMARCRecordErrorsAndDuplicates(t *testing.T) {
	recs := []string{
		`_dmarc.org.test. 300 IN TXT "v=DMARC1; p=reject"`,
		`_dmarc.twosub.org.test. 300 IN TXT "v=DMARC1; p=reject"`,
		`_dmarc.twosub.org.test. 300 IN TXT "v=DMARC1; p=none"`,
		`_dmarc.two.test. 300 IN TXT "v=DMARC1; p=reject"`,
		`_dmarc.two.test. 300 IN TXT "v=DMARC1; p=none"`,
		`_dmarc.badp.test. 300 IN TXT "v=DMARC1; p=sometimes"`,
		`_dmarc.nop.test. 300 IN TXT "v=DMARC1; rua=mailto:d@nop.test"`,
		`_dmarc.badprua.test. 300 IN TXT "v=DMARC1; p=sometimes; sp=reject; rua=mailto:d@badprua.test"`,
		`_dmarc.upper.test. 300 IN TXT "v=DMARC1; P=Reject; ADKIM=S"`,
		`_dmarc.dupa.test. 300 IN TXT "v=DMARC1; p=none; p=reject"`,
		`_dmarc.dupb.test. 300 IN TXT "v=DMARC1; p=reject; p=none"`,
		`_dmarc.dupc.test. 300 IN TXT "v=DMARC1; p=reject; P=reject"`,
		`_dmarc.dupd.test. 300 IN TXT "v=DMARC1; p=reject; pct=100; pct=0"`,
		`_dmarc.dupsub.org.test. 300 IN TXT "v=DMARC1; p=none; p=none"`,
	}
	bad := map[string]string{"pct": "pct=abc", "adkim": "adkim=x", "aspf": "aspf=", "fo": "fo=9", "ri": "ri=-1",
		"pct150": "pct=150", "rf": "rf=xml", "junk": "junk", "sp": "sp=bogus", "rua": "rua=::"}
	for name, tag := range bad {
		recs = append(recs, `_dmarc.bad`+name+`.test. 300 IN TXT "v=DMARC1; p=reject; `+tag+`"`)
	}
	dns := dnstest.Start(t, recs...)
	res, err := resolver.New(resolver.Config{Servers: []string{dns.Addr}, Timeout: 2 * time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	in := func(int) bool { return true }
	eval := func(from string) dmarcResult {
		return evaluateDMARC(context.Background(), res, mustFields("From: "+from+"\r\n"),
			spfResult{value: "fail", domain: "x.test"}, nil, in, nil)
	}
	for name := range bad {
		r := eval("a@bad" + name + ".test")
		if r.value != "fail" || r.policy != dmarc.PolicyReject {
			t.Errorf("p=reject with %s: %+v, want fail under reject", bad[name], r)
		}
	}
	if r := eval("a@badpct.test"); !strings.Contains(r.reason, "pct") {
		t.Errorf("the ignored tag is not named: %+v", r)
	}
	for _, c := range []struct {
		from, value string
		policy      dmarc.Policy
	}{
		{"a@upper.test", "fail", dmarc.PolicyReject},       // ABNF literals are case-insensitive
		{"a@badp.test", "permerror", ""},                   // invalid p=, no rua=: no policy
		{"a@nop.test", "fail", dmarc.PolicyNone},           // no p=, a valid rua=: p=none
		{"a@badprua.test", "fail", dmarc.PolicyNone},       // invalid p=, valid rua=: p=none
		{"a@sub.badprua.test", "fail", dmarc.PolicyReject}, // its valid sp= for a subdomain
		{"a@two.test", "none", ""},                         // two records: no policy
		{"a@twosub.org.test", "none", ""},                  // two records: not the org domain's either
		{"a@other.org.test", "fail", dmarc.PolicyReject},   // none at the name: the org domain's
		// rt19 fixg F5 (RFC 6376 §3.2, RFC 7489 §6.4): a repeated tag
		// makes the record invalid, in either order: no policy, and
		// not the org domain's either (as two records).
		{"a@dupa.test", "none", ""},
		{"a@dupb.test", "none", ""},
		{"a@dupc.test", "none", ""},
		{"a@dupd.test", "none", ""},
		{"a@dupsub.org.test", "none", ""},
	} {
		if r := eval(c.from); r.value != c.value || r.policy != c.policy {
			t.Errorf("%s: %+v, want %s policy %q", c.from, r, c.value, c.policy)
		}
	}
}

// The same over SMTP: p=reject with a bad pct= is refused (EDGE-1), and
// two records at one name refuse nothing.
func TestDMARCRecordErrorsOverSMTP(t *testing.T) {
	e := startEdge(t, "{profile: internet}", append(senderZone,
		`badpct.test. 300 IN TXT "v=spf1 ip4:192.0.2.1 -all"`,
		`_dmarc.badpct.test. 300 IN TXT "v=DMARC1; p=reject; pct=abc"`,
		`two.test. 300 IN TXT "v=spf1 ip4:192.0.2.1 -all"`,
		`_dmarc.two.test. 300 IN TXT "v=DMARC1; p=reject"`,
		`_dmarc.two.test. 300 IN TXT "v=DMARC1; p=none"`,
		`dupa.test. 300 IN TXT "v=spf1 ip4:192.0.2.1 -all"`,
		`_dmarc.dupa.test. 300 IN TXT "v=DMARC1; p=none; p=reject"`,
		`dupb.test. 300 IN TXT "v=spf1 ip4:192.0.2.1 -all"`,
		`_dmarc.dupb.test. 300 IN TXT "v=DMARC1; p=reject; p=none"`)...)
	if got := e.send(t, "client.test", "a@badpct.test", message("a@badpct.test", "badpct")); !strings.HasPrefix(got, "550 5.7.1 message refused: DMARC policy of badpct.test is reject") {
		t.Errorf("p=reject; pct=abc: %q", got)
	}
	lax := startEdge(t, "{profile: internet, dmarc: header}", append(senderZone,
		`badpct.test. 300 IN TXT "v=spf1 ip4:192.0.2.1 -all"`,
		`_dmarc.badpct.test. 300 IN TXT "v=DMARC1; p=reject; pct=abc"`)...)
	if got := lax.send(t, "client.test", "a@badpct.test", message("a@badpct.test", "laxpct")); !strings.HasPrefix(got, "250") {
		t.Errorf("dmarc: header: %q", got)
	} else {
		_, body := lax.q.last(t)
		wantAll(t, authResults(t, body), "dmarc=fail (p=reject policy record: invalid 'pct' ignored) header.from=badpct.test")
	}
	for _, dom := range []string{"dupa.test", "dupb.test"} {
		// rt19 fixg F5: a repeated tag, either order: no policy, 250.
		if got := e.send(t, "client.test", "a@"+dom, message("a@"+dom, dom)); !strings.HasPrefix(got, "250") {
			t.Errorf("%s (p= twice): %q", dom, got)
		} else {
			_, body := e.q.last(t)
			wantAll(t, authResults(t, body), "dmarc=none (policy record: tag 'p' repeated: no policy) header.from="+dom)
		}
	}
	if got := e.send(t, "client.test", "a@two.test", message("a@two.test", "two")); !strings.HasPrefix(got, "250") {
		t.Errorf("two records: %q", got)
	} else {
		_, body := e.q.last(t)
		wantAll(t, authResults(t, body), "dmarc=none")
	}
}

// RFC 7208 §4.5: two SPF records at a name are permerror, never one of
// them applied.
func TestTwoSPFRecordsPermerror(t *testing.T) {
	dns := dnstest.Start(t,
		`two.test. 300 IN TXT "v=spf1 ip4:127.0.0.2 -all"`,
		`two.test. 300 IN TXT "v=spf1 -all"`)
	res, err := resolver.New(resolver.Config{Servers: []string{dns.Addr}, Timeout: 2 * time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	if r := checkSPF(context.Background(), res, netip.MustParseAddr("127.0.0.2"), "client.test", "a@two.test"); r.value != "permerror" {
		t.Fatalf("two SPF records: %+v", r)
	}
}

// FuzzParseDMARCRecord: any record text gives a record with a policy
// of p='s three values, or an error; never a panic.
func FuzzParseDMARCRecord(f *testing.F) {
	for _, s := range []string{"v=DMARC1; p=reject; pct=abc", "v=DMARC1; P=Reject; sp=x; rua=mailto:a@b", "v=DMARC1;;=;p", "v=DMARC1; p=none; pct=100; fo=0:1:d:s; rf=afrf; ri=86400"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rec, _, err := parseDMARCRecord(s)
		if err != nil {
			return
		}
		switch rec.Policy {
		case dmarc.PolicyNone, dmarc.PolicyQuarantine, dmarc.PolicyReject:
		default:
			t.Fatalf("%q: policy %q", s, rec.Policy)
		}
		if rec.Percent != nil && (*rec.Percent < 0 || *rec.Percent > 100) {
			t.Fatalf("%q: pct %d", s, *rec.Percent)
		}
	})
}
