package msgauth

import (
	"errors"
	"net/url"
	"strings"

	"github.com/emersion/go-msgauth/dmarc"
)

// errNoValidPolicy: a record without a valid p= and without a valid
// rua= (RFC 7489 §6.6.3 step 6): no policy applies; the result is
// permerror.
var errNoValidPolicy = errors.New("no valid p tag and no valid rua tag: no policy applies")

// repeatedTagError: a tag given twice (names compared case-
// insensitively, "p=none; P=reject" too) makes the whole tag list
// invalid (RFC 6376 §3.2, which RFC 7489 §6.4 uses): the record is no
// policy, whichever order the values come in — never the first or the
// last of them. Like two records at a name it ends discovery (not the
// organisational domain's policy either): dmarc=none, nothing refused.
type repeatedTagError struct{ tag string }

func (e *repeatedTagError) Error() string {
	return "tag " + quoteShort(e.tag) + " repeated: no policy"
}

// parseDMARCRecord reads a DMARC record (RFC 7489 §6.3, §6.4) as the
// RFC asks a receiver to: v=DMARC1 first; a valid p= (its ABNF literals
// compare case-insensitively) and, when present, a valid sp= apply; a
// syntax error in any other tag (adkim=, aspf=, pct=, fo=, rf=, ri=, a
// tag without "=") is ignored, with that tag's default — it never
// switches the policy off; an invalid sp= is ignored too (subdomains get
// p=). ignored names them. A missing or invalid p= is §6.6.3 step 6:
// with a syntactically valid rua= URI the record acts as p=none (a valid
// sp= still applying to subdomains), else errNoValidPolicy. A repeated
// tag is *repeatedTagError. The tags umbra does not act on
// (fo=, rf=, ri=, ruf=) are checked only to name them when invalid.
func parseDMARCRecord(txt string) (rec *dmarc.Record, ignored []string, err error) {
	tags := map[string]string{}
	var order []string
	var repeated *repeatedTagError
	if !isDMARCRecord(txt) {
		return nil, nil, errors.New("not a DMARC1 record")
	}
	for _, t := range tagList(txt) {
		k := strings.ToLower(t.name)
		if !t.eq || k == "" {
			ignored = append(ignored, quoteShort(trimFWS(t.raw)))
			continue
		}
		if _, dup := tags[k]; dup {
			if repeated == nil {
				repeated = &repeatedTagError{tag: k}
			}
			continue
		}
		tags[k] = t.value
		order = append(order, k)
	}
	if repeated != nil {
		return nil, nil, repeated
	}
	rec = &dmarc.Record{DKIMAlignment: dmarc.AlignmentRelaxed, SPFAlignment: dmarc.AlignmentRelaxed}
	policy := func(v string) (dmarc.Policy, bool) {
		switch p := dmarc.Policy(strings.ToLower(v)); p {
		case dmarc.PolicyNone, dmarc.PolicyQuarantine, dmarc.PolicyReject:
			return p, true
		}
		return "", false
	}
	p, pOK := policy(tags["p"])
	sp, spOK := dmarc.Policy(""), true
	if v, ok := tags["sp"]; ok {
		sp, spOK = policy(v)
	}
	rua := false
	for _, u := range strings.Split(tags["rua"], ",") {
		u, _, _ = strings.Cut(strings.TrimSpace(u), "!") // a size limit
		if pu, err := url.Parse(u); err == nil && pu.Scheme != "" && (pu.Opaque != "" || pu.Host != "" || pu.Path != "") {
			rua = true
		}
	}
	if !spOK {
		// An invalid sp= is ignored (its default: p=), never a reason
		// to apply no policy to the domain's own mail or its subdomains'.
		ignored, sp = append(ignored, "'sp'"), ""
	}
	switch {
	case pOK:
		rec.Policy, rec.SubdomainPolicy = p, sp
	case !rua:
		return nil, nil, errNoValidPolicy
	default:
		// §6.6.3 step 6: act as if p=none was published.
		rec.Policy, rec.SubdomainPolicy = dmarc.PolicyNone, sp
		ignored = append(ignored, "'p'")
	}
	for _, k := range order {
		v := tags[k]
		valid := true
		switch k {
		case "adkim", "aspf":
			switch m := dmarc.AlignmentMode(strings.ToLower(v)); m {
			case dmarc.AlignmentRelaxed, dmarc.AlignmentStrict:
				if k == "adkim" {
					rec.DKIMAlignment = m
				} else {
					rec.SPFAlignment = m
				}
			default:
				valid = false
			}
		case "pct":
			n, ok := smallNumber(v, 3)
			if valid = ok && n <= 100; valid {
				rec.Percent = &n
			}
		case "fo":
			for _, o := range strings.Split(v, ":") {
				valid = valid && len(strings.TrimSpace(o)) == 1 && strings.Contains("01ds", strings.ToLower(strings.TrimSpace(o)))
			}
		case "rf":
			for _, f := range strings.Split(v, ":") {
				valid = valid && strings.EqualFold(strings.TrimSpace(f), "afrf")
			}
		case "ri":
			_, valid = smallNumber(v, 9)
		}
		if !valid {
			ignored = append(ignored, quoteShort(k))
		}
	}
	return rec, ignored, nil
}

// isDMARCRecord: txt starts with the tag v=DMARC1 (RFC 7489 §6.4:
// dmarc-version = "v" *WSP "=" *WSP %x44.4d.41.52.43.31): the tag name
// is an ABNF literal, so "V=" counts (as "P=" always did; reading it
// only ever applies a policy the domain published, while not reading it
// let mail forging a p=reject domain through); the value DMARC1 is spelt
// by its octets, so it does not fold case. Discovery (which records count) and parsing read it the
// same way, by tagList.
func isDMARCRecord(txt string) bool {
	if i := strings.IndexByte(txt, ';'); i >= 0 {
		txt = txt[:i] // the first tag-spec is all that is needed
	}
	tags := tagList(txt)
	return len(tags) > 0 && strings.EqualFold(tags[0].name, "v") && tags[0].eq && tags[0].value == "DMARC1"
}

// smallNumber reads 1 to max decimal digits.
func smallNumber(s string, max int) (int, bool) {
	if s == "" || len(s) > max {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}
