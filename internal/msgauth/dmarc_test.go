package msgauth

import (
	"context"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dmarc"

	"umbra/internal/resolver"
	"umbra/internal/resolver/dnstest"
)

// DMARC policy discovery and evaluation, against a loopback DNS server:
// organisational domain and sp=, strict and relaxed alignment, pct=.
func TestEvaluateDMARC(t *testing.T) {
	dns := dnstest.Start(t,
		`_dmarc.org.test. 300 IN TXT "v=DMARC1; p=reject; sp=quarantine"`,
		`_dmarc.strict.test. 300 IN TXT "v=DMARC1; p=reject; aspf=s; adkim=s"`,
		`_dmarc.half.test. 300 IN TXT "v=DMARC1; p=reject; pct=50"`,
		`_dmarc.bad.test. 300 IN TXT "v=DMARC1; p=sometimes"`,
		`_dmarc.co.uk. 300 IN TXT "v=DMARC1; p=reject"`,
		`_dmarc.two.test. 300 IN TXT "v=DMARC1; p=reject"`,
		`_dmarc.two.test. 300 IN TXT "v=DMARC1; p=none"`,
		`_dmarc.other.test. 300 IN TXT "some verification token"`,
		`_dmarc.other.test. 300 IN TXT "v=DMARC1; p=quarantine"`,
	)
	res, err := resolver.New(resolver.Config{Servers: []string{dns.Addr}, Timeout: 2 * time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	in, out := func(int) bool { return true }, func(int) bool { return false }
	spf := func(v, d string) spfResult { return spfResult{value: v, domain: d} }
	pass := func(d string) []dkimResult { return []dkimResult{{value: "pass", domain: d}} }
	for _, c := range []struct {
		name, from string
		spf        spfResult
		dkim       []dkimResult
		sample     func(int) bool
		value      string
		policy     dmarc.Policy
	}{
		{"subdomain gets sp=", "a@sub.org.test", spf("fail", "sub.org.test"), nil, in, "fail", dmarc.PolicyQuarantine},
		{"org domain gets p=", "a@org.test", spf("fail", "org.test"), nil, in, "fail", dmarc.PolicyReject},
		{"relaxed SPF alignment", "a@org.test", spf("pass", "bounce.org.test"), nil, in, "pass", ""},
		{"relaxed DKIM alignment", "a@sub.org.test", spf("fail", "x.test"), pass("org.test"), in, "pass", ""},
		{"strict SPF alignment", "a@strict.test", spf("pass", "mail.strict.test"), nil, in, "fail", dmarc.PolicyReject},
		{"strict DKIM alignment", "a@strict.test", spf("none", ""), pass("mail.strict.test"), in, "fail", dmarc.PolicyReject},
		{"strict, exact", "a@strict.test", spf("none", ""), pass("strict.test"), in, "pass", ""},
		{"unrelated DKIM pass", "a@org.test", spf("fail", "org.test"), pass("evil.test"), in, "fail", dmarc.PolicyReject},
		{"pct sampled in", "a@half.test", spf("fail", "half.test"), nil, in, "fail", dmarc.PolicyReject},
		{"pct sampled out", "a@half.test", spf("fail", "half.test"), nil, out, "fail", dmarc.PolicyQuarantine},
		{"no record", "a@nowhere.test", spf("fail", "nowhere.test"), nil, in, "none", ""},
		{"invalid record", "a@bad.test", spf("fail", "bad.test"), nil, in, "permerror", ""},
		{"public suffix record is not the org's", "a@example.co.uk", spf("fail", "example.co.uk"), nil, in, "none", ""},
		{"two records: no policy", "a@two.test", spf("fail", "two.test"), nil, in, "none", ""},
		{"other TXT records ignored", "a@other.test", spf("fail", "other.test"), nil, in, "fail", dmarc.PolicyQuarantine},
		{"SPF temperror", "a@org.test", spf("temperror", "org.test"), nil, in, "temperror", dmarc.PolicyReject},
	} {
		r := evaluateDMARC(context.Background(), res, mustFields("From: "+c.from+"\r\n"), c.spf, c.dkim, c.sample, nil)
		if r.value != c.value || r.policy != c.policy {
			t.Errorf("%s: %+v, want %s policy %q", c.name, r, c.value, c.policy)
		}
	}
	dns.Fail("_dmarc.down.test")
	if r := evaluateDMARC(context.Background(), res, mustFields("From: a@down.test\r\n"), spf("fail", "down.test"), nil, in, nil); r.value != "temperror" {
		t.Errorf("SERVFAIL: %+v", r)
	}
}
