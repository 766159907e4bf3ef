package msgauth

import (
	"context"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-msgauth/dmarc"

	"umbra/internal/resolver"
	"umbra/internal/resolver/dnstest"
)

// guardedDNS is the checks' resolver (nameGuard) over a loopback DNS
// server holding records.
func guardedDNS(t *testing.T, records ...string) nameGuard {
	t.Helper()
	dns := dnstest.Start(t, records...)
	res, err := resolver.New(resolver.Config{Servers: []string{dns.Addr}, Timeout: 2 * time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	return nameGuard{res}
}

// An internationalised domain is looked up and compared as its A-label
// wherever a check names it, however written (U-label, capitals, a
// final dot): the From: domain's _dmarc record and its organisational
// domain's, a DKIM signature's d= (its key and its alignment with the
// From: domain), an SPF domain's alignment. Against a loopback DNS
// server that holds only the A-label names, as DNS does.
func TestDMARCInternationalisedDomains(t *testing.T) {
	k := edKey(t)
	g := guardedDNS(t,
		`_dmarc.xn--bcher-kva.test. 300 IN TXT "v=DMARC1; p=reject; sp=quarantine"`,
		`sel._domainkey.xn--bcher-kva.test. 300 IN TXT "`+k.record+`"`)
	in := func(int) bool { return true }
	spf := func(v, d string) spfResult { return spfResult{value: v, domain: d} }
	pass := func(d string) []dkimResult { return []dkimResult{{value: "pass", domain: d}} }
	for _, c := range []struct {
		name, from string
		spf        spfResult
		dkim       []dkimResult
		value      string
		policy     dmarc.Policy
	}{
		{"U-label From: finds the A-label record", "a@bücher.test", spf("fail", "x.test"), nil, "fail", dmarc.PolicyReject},
		{"capitals and final dot", "a@BÜCHER.Test.", spf("fail", "x.test"), nil, "fail", dmarc.PolicyReject},
		{"U-label subdomain: organisational domain's sp=", "a@post.bücher.test", spf("fail", "x.test"), nil, "fail", dmarc.PolicyQuarantine},
		{"U-label DKIM d= aligned with an A-label From:", "a@xn--bcher-kva.test", spf("fail", "x.test"), pass("Bücher.test."), "pass", ""},
		{"A-label DKIM d= aligned with a U-label From:", "a@post.bücher.test", spf("fail", "x.test"), pass("XN--BCHER-KVA.TEST"), "pass", ""},
		{"U-label SPF domain aligned", "a@xn--bcher-kva.test", spf("pass", "bounce.bücher.test."), nil, "pass", ""},
	} {
		r := evaluateDMARC(context.Background(), g, mustFields("From: "+c.from+"\r\n"), c.spf, c.dkim, in, nil)
		if r.value != c.value || r.policy != c.policy {
			t.Errorf("%s: %+v, want %s policy %q", c.name, r, c.value, c.policy)
		}
	}

	// A signature whose d= is a U-label: its key is at the A-label name.
	msg := "From: a@bücher.test\r\nSubject: x\r\n\r\nbody\r\n"
	for _, d := range []string{"bücher.test", "Bücher.Test."} {
		// d= as the signer wrote it (the tag is signed).
		signed := dkimSign(t, msg, d, "sel", k, dkim.CanonicalizationRelaxed, dkim.CanonicalizationRelaxed)
		fields := mustFields(signed)
		out := verifyDKIM(context.Background(), g.LookupTXT, fields, []byte(signed), 0)
		if len(out) != 1 || out[0].value != "pass" || out[0].domain != "xn--bcher-kva.test" {
			t.Errorf("d=%s: %+v, want pass for xn--bcher-kva.test", d, out)
		}
	}
}

// A d= whose label IDNA 2008 refuses (a full-width letter, which UTS #46
// maps to ASCII) names no domain of its own: it is not the A-label's
// domain, for its key and for its alignment, as everywhere umbra
// compares domains (mailaddr.Domain: "\uFF42ücher.test" is not
// "bücher.test"). Its key is not looked up at the A-label name, so the
// key published there does not verify it.
func TestDKIMDomainIDNAStandInNotMapped(t *testing.T) {
	k := edKey(t)
	g := guardedDNS(t,
		`_dmarc.xn--bcher-kva.test. 300 IN TXT "v=DMARC1; p=reject"`,
		`sel._domainkey.xn--bcher-kva.test. 300 IN TXT "`+k.record+`"`)
	d := "\uFF42ücher.test" // FULLWIDTH LATIN SMALL LETTER B
	msg := "From: a@bücher.test\r\nSubject: x\r\n\r\nbody\r\n"
	signed := dkimSign(t, msg, d, "sel", k, dkim.CanonicalizationRelaxed, dkim.CanonicalizationRelaxed)
	out := verifyDKIM(context.Background(), g.LookupTXT, mustFields(signed), []byte(signed), 0)
	if len(out) != 1 || out[0].value == "pass" || out[0].domain == "xn--bcher-kva.test" {
		t.Errorf("d=%s: %+v, want no pass and not xn--bcher-kva.test", d, out)
	}
	in := func(int) bool { return true }
	r := evaluateDMARC(context.Background(), g, mustFields("From: a@xn--bcher-kva.test\r\n"),
		spfResult{value: "fail", domain: "x.test"}, []dkimResult{{value: "pass", domain: d}}, in, nil)
	if r.value != "fail" {
		t.Errorf("DKIM d=%s aligned with From: xn--bcher-kva.test: %+v, want fail", d, r)
	}
}
