package msgauth

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-msgauth/dmarc"

	"umbra/internal/resolver"
	"umbra/internal/resolver/dnstest"
)

// rt22b M1 (RFC 7489 §6.4: dmarc-sep = *WSP ";" *WSP, WSP = SP / HTAB;
// its ABNF literals, the tag name "v" too, compare case-insensitively):
// a record published with tabs, or with "V=", is the policy it says.
// The records come over real DNS, so the bytes read are the bytes
// published (the resolver once handed "\009" for a tab).
func TestDMARCRecordWhiteSpaceAndCase(t *testing.T) {
	recs := map[string]string{
		"tabafter":  "v=DMARC1;\tp=reject",
		"tabend":    "v=DMARC1; p=reject\t",
		"tabbefore": "v=DMARC1\t; p=reject",
		"tabeq":     "v\t=\tDMARC1;\tp\t=\treject\t;",
		"folded":    "v=DMARC1;\r\n\tp=reject",
		"upperv":    "V=DMARC1; p=reject",
		"uppervtab": "V=DMARC1;\tP=REJECT",
	}
	var zone []string
	for name, txt := range recs {
		zone = append(zone, `_dmarc.`+name+`.test. 300 IN TXT "`+strings.NewReplacer("\t", `\009`, "\r", `\013`, "\n", `\010`).Replace(txt)+`"`)
	}
	srv := dnstest.Start(t, zone...)
	res, err := resolver.New(resolver.Config{Servers: []string{srv.Addr}, Timeout: 2 * time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	for name, txt := range recs {
		r := evaluateDMARC(context.Background(), res, mustFields("From: ceo@"+name+".test\r\n"),
			spfResult{value: "fail", domain: "evil.test"}, nil, func(int) bool { return true }, nil)
		if r.value != "fail" || r.policy != dmarc.PolicyReject {
			t.Errorf("%q: %+v, want fail under p=reject", txt, r)
		}
	}
}

// rt22b M1: the tag-list grammar as one parser, DMARC's and DKIM's
// alike: white space around names, values and ";" is SP, HTAB or a
// folding CRLF; anything else stays part of the name or value.
func TestTagListWhiteSpace(t *testing.T) {
	for _, s := range []string{"a=1;\tb=2", "a=1;b=2\t", "a=1\t;b=2", "\ta\t=\t1\t;\r\n\tb = 2 ;", "a=1;\r\n b=2"} {
		tags, err := parseTags(s)
		if err != nil || tags["a"] != "1" || tags["b"] != "2" || len(tags) != 2 {
			t.Errorf("parseTags(%q) = %q, %v", s, tags, err)
		}
	}
	// A form feed or a no-break space is no white space of the grammar.
	for _, s := range []string{"a\f=1", "\u00a0a=1"} {
		if tags, err := parseTags(s); err == nil {
			t.Errorf("parseTags(%q) = %q, want an invalid tag name", s, tags)
		}
	}
}

// rt22b L1 (RFC 6376 §3.2, tag-spec = [FWS] tag-name [FWS] "=" [FWS]
// tag-value [FWS]): a key record published with tabs or folding between
// its tags verifies umbra's own kind of signature, over real DNS.
func TestDKIMKeyRecordWhiteSpace(t *testing.T) {
	k := edKey(t)
	p := strings.TrimPrefix(k.record, "v=DKIM1; k=ed25519; p=")
	variants := map[string]string{
		"tabs":   "v=DKIM1;\tk=ed25519;\tp=" + p,
		"notv":   "k=ed25519;\tp=" + p,
		"folded": "v=DKIM1;\r\n\tk=ed25519;\r\n\tp=" + p[:20] + "\t" + p[20:],
		"around": "v\t=\tDKIM1\t;\tk\t=\ted25519\t;\tp\t=\t" + p + "\t",
	}
	var zone []string
	for sel, txt := range variants {
		zone = append(zone, zoneTXT(sel+"._domainkey.corp.test", strings.NewReplacer("\t", `\009`, "\r", `\013`, "\n", `\010`).Replace(txt)))
	}
	srv := dnstest.Start(t, zone...)
	res, err := resolver.New(resolver.Config{Servers: []string{srv.Addr}, Timeout: 2 * time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	msg := "From: a@corp.test\r\nTo: b@example.test\r\nSubject: hi\r\n\r\nbody\r\n"
	for sel := range variants {
		signed := dkimSign(t, msg, "corp.test", sel, k, dkim.CanonicalizationRelaxed, dkim.CanonicalizationRelaxed)
		fields := mustFields(signed[:strings.Index(signed, "\r\n\r\n")+2])
		got := verifyDKIM(context.Background(), res.LookupTXT, fields, []byte(signed), 5)
		if len(got) != 1 || got[0].value != "pass" {
			t.Errorf("key record %q: %+v, want pass", variants[sel], got)
		}
	}
}
