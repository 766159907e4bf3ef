package msgauth

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/mail"
	"net/netip"
	"strings"

	"blitiri.com.ar/go/spf"
	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-msgauth/dmarc"
	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"

	"umbra/internal/resolver"
)

// spfResult is one SPF identity's result (RFC 7208 §2.6).
type spfResult struct {
	value  string // none, neutral, pass, fail, softfail, temperror, permerror
	domain string // the domain checked
	reason string
}

// checkSPF evaluates the SPF record of identity's domain for ip.
// identity is an address (MAIL FROM) or a HELO name given as
// postmaster@name; a domain that is not a host name is "none".
func checkSPF(ctx context.Context, r resolver.Resolver, ip netip.Addr, helo, identity string) spfResult {
	at := strings.LastIndexByte(identity, '@')
	local, domain := identity[:max(at, 0)], identity[at+1:]
	res := spfResult{value: "none", domain: strings.ToLower(domain)}
	ascii, ok := asciiDomain(domain)
	if !ok {
		res.reason = "no domain to check"
		return res
	}
	res.domain, identity = ascii, local+"@"+ascii
	v, err := spf.CheckHostWithSender(net.IP(ip.Unmap().AsSlice()), helo, identity,
		spf.WithContext(ctx), spf.WithResolver(r))
	res.value = string(v)
	if err != nil && v != spf.Pass && !isSPFMatch(err) {
		res.reason = err.Error()
	}
	return res
}

// isSPFMatch: the library reports which mechanism matched as an error.
func isSPFMatch(err error) bool {
	for _, m := range []error{spf.ErrMatchedAll, spf.ErrMatchedA, spf.ErrMatchedIP, spf.ErrMatchedMX,
		spf.ErrMatchedPTR, spf.ErrMatchedExists} {
		if errors.Is(err, m) {
			return true
		}
	}
	return false
}

// isHostName: dot-separated labels of letters, digits and hyphens
// (underscores allowed, as in real DNS), at least two labels.
func isHostName(s string) bool {
	if len(s) == 0 || len(s) > 253 || !strings.Contains(s, ".") {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// dkimResult is one signature's result (RFC 6376 §6.1, RFC 8601 §2.7.1).
type dkimResult struct {
	value    string // pass, fail, neutral, temperror, permerror
	domain   string // d=
	identity string // i=
	selector string // s=
	b        string // the first characters of b=, to tell signatures apart
	reason   string
}

// verifyDKIM verifies the message's DKIM signatures (at most max).
// None means the message has no signature.
func verifyDKIM(ctx context.Context, r resolver.Resolver, fields []field, msg []byte, max int) []dkimResult {
	var sigs []map[string]string
	for _, f := range fields {
		if f.is("DKIM-Signature") {
			t, _ := parseTags(f.value())
			sigs = append(sigs, t)
		}
	}
	if len(sigs) == 0 {
		return nil
	}
	verifs, err := dkim.VerifyWithOptions(bytes.NewReader(msg), &dkim.VerifyOptions{
		LookupTXT:        func(name string) ([]string, error) { return r.LookupTXT(ctx, name) },
		MaxVerifications: max,
	})
	if len(verifs) == 0 {
		reason := "unreadable message"
		if err != nil {
			reason = err.Error()
		}
		return []dkimResult{{value: "permerror", reason: reason}}
	}
	var out []dkimResult
	for i, v := range verifs {
		d := dkimResult{value: "pass", domain: strings.ToLower(v.Domain), identity: v.Identifier}
		if len(verifs) <= len(sigs) && sigs[i] != nil && strings.EqualFold(stripWSP(sigs[i]["d"]), v.Domain) {
			d.selector = stripWSP(sigs[i]["s"])
			if b := stripWSP(sigs[i]["b"]); len(b) >= 8 {
				d.b = b[:8]
			}
		}
		switch {
		case v.Err == nil:
		case dkim.IsTempFail(v.Err):
			d.value, d.reason = "temperror", v.Err.Error()
		case dkim.IsPermFail(v.Err):
			d.value, d.reason = "permerror", v.Err.Error()
		default:
			d.value, d.reason = "fail", v.Err.Error()
		}
		out = append(out, d)
	}
	return out
}

// dmarcResult is the DMARC evaluation (RFC 7489 §6.6).
type dmarcResult struct {
	value  string // none, pass, fail, temperror, permerror
	domain string // the RFC5322.From domain
	// policy is what the domain asks for a failing message, after sp=
	// and pct= (none, quarantine, reject); "" when there is no policy.
	policy    dmarc.Policy
	published dmarc.Policy // p= or sp= as published
	reason    string
}

// fromDomain returns the single author domain of the header (RFC 7489
// §6.6.1): one From: field whose addresses all have one domain.
func fromDomain(fields []field) (string, error) {
	var from []field
	for _, f := range fields {
		if f.is("From") {
			from = append(from, f)
		}
	}
	if len(from) != 1 {
		return "", errors.New("not exactly one From: field")
	}
	var addrs []string
	v := strings.TrimSpace(from[0].value())
	if list, err := mail.ParseAddressList(v); err == nil {
		for _, a := range list {
			addrs = append(addrs, a.Address)
		}
	} else if i, j := strings.LastIndexByte(v, '<'), strings.LastIndexByte(v, '>'); i >= 0 && j > i {
		// Syntax the parser refuses (obsolete forms, raw 8-bit): the
		// angle-bracketed address, as most receivers read it.
		addrs = append(addrs, v[i+1:j])
	} else {
		return "", errors.New("From: field unreadable")
	}
	if len(addrs) == 0 {
		return "", errors.New("From: field without an address")
	}
	domain := ""
	for _, a := range addrs {
		i := strings.LastIndexByte(a, '@')
		if i < 0 {
			return "", errors.New("From: address without a domain")
		}
		d, ok := asciiDomain(a[i+1:])
		if !ok {
			return "", errors.New("From: address without a domain")
		}
		if domain != "" && domain != d {
			return "", errors.New("From: addresses of several domains")
		}
		domain = d
	}
	return domain, nil
}

// asciiDomain returns d in lower case, internationalized labels as
// A-labels, without a final dot; ok is false if it is not a host name.
func asciiDomain(d string) (string, bool) {
	d = strings.TrimSuffix(d, ".")
	a, err := idna.Lookup.ToASCII(d)
	if err != nil {
		return "", false
	}
	a = strings.ToLower(a)
	return a, isHostName(a)
}

// orgDomain is the organisational domain (RFC 7489 §3.2): the public
// suffix plus one label.
func orgDomain(d string) string {
	o, err := publicsuffix.EffectiveTLDPlusOne(d)
	if err != nil {
		return d
	}
	return o
}

// aligned compares two domains in relaxed (same organisational domain)
// or strict (equal) mode.
func aligned(a, b string, mode dmarc.AlignmentMode) bool {
	a, b = strings.ToLower(a), strings.ToLower(b)
	if mode == dmarc.AlignmentStrict {
		return a == b
	}
	return orgDomain(a) == orgDomain(b)
}

// errNoPolicy: no usable DMARC record at a name.
var errNoPolicy = errors.New("no DMARC record")

// errTempDNS: the DMARC record could not be fetched.
var errTempDNS = errors.New("DMARC record lookup failed")

// lookupDMARC finds the policy record for domain: at the domain, else at
// its organisational domain (whose sp= then applies) (RFC 7489 §6.6.3).
func lookupDMARC(ctx context.Context, r resolver.Resolver, domain string) (rec *dmarc.Record, sub bool, err error) {
	rec, err = dmarcRecord(ctx, r, domain)
	if err != errNoPolicy {
		return rec, false, err
	}
	org := orgDomain(domain)
	if org == domain {
		return nil, false, err
	}
	rec, err = dmarcRecord(ctx, r, org)
	return rec, true, err
}

// dmarcRecord reads _dmarc.domain: the TXT records starting "v=DMARC1"
// count; none, or more than one, is no policy.
func dmarcRecord(ctx context.Context, r resolver.Resolver, domain string) (*dmarc.Record, error) {
	txts, err := r.LookupTXT(ctx, "_dmarc."+domain)
	if err != nil {
		var de *net.DNSError
		if errors.As(err, &de) && de.IsNotFound {
			return nil, errNoPolicy
		}
		return nil, errTempDNS
	}
	var recs []string
	for _, t := range txts {
		if v, _, _ := strings.Cut(t, ";"); strings.TrimSpace(strings.ReplaceAll(v, " ", "")) == "v=DMARC1" {
			recs = append(recs, t)
		}
	}
	if len(recs) != 1 {
		return nil, errNoPolicy
	}
	return dmarc.Parse(recs[0])
}

// evaluateDMARC evaluates the From: domain's policy against the SPF
// result of the MAIL FROM (or HELO) identity and the DKIM results.
// sample(pct) says whether a message falls in the pct= share.
func evaluateDMARC(ctx context.Context, r resolver.Resolver, fields []field, spfRes spfResult,
	dkims []dkimResult, sample func(pct int) bool) dmarcResult {
	domain, err := fromDomain(fields)
	if err != nil {
		// RFC 7489 §6.6.1: without one author domain DMARC cannot be
		// applied; such a message is refused where the policy is
		// followed.
		return dmarcResult{value: "permerror", reason: err.Error(), policy: dmarc.PolicyReject}
	}
	res := dmarcResult{domain: domain}
	rec, sub, err := lookupDMARC(ctx, r, domain)
	switch {
	case err == errTempDNS:
		res.value, res.reason = "temperror", "policy lookup failed"
		return res
	case err == errNoPolicy:
		res.value = "none"
		return res
	case err != nil:
		res.value, res.reason = "permerror", "policy record: "+err.Error()
		return res
	}
	res.published = rec.Policy
	if sub && rec.SubdomainPolicy != "" {
		res.published = rec.SubdomainPolicy
	}
	spfAligned := spfRes.value == "pass" && aligned(spfRes.domain, domain, rec.SPFAlignment)
	dkimAligned, dkimTemp := false, false
	for _, d := range dkims {
		if d.value == "pass" && aligned(d.domain, domain, rec.DKIMAlignment) {
			dkimAligned = true
		}
		dkimTemp = dkimTemp || d.value == "temperror"
	}
	if spfAligned || dkimAligned {
		res.value = "pass"
		return res
	}
	res.value, res.policy = "fail", res.published
	if rec.Percent != nil && *rec.Percent < 100 && !sample(*rec.Percent) {
		// RFC 7489 §6.6.4: outside the sample, the next lower policy.
		switch res.policy {
		case dmarc.PolicyReject:
			res.policy = dmarc.PolicyQuarantine
		case dmarc.PolicyQuarantine:
			res.policy = dmarc.PolicyNone
		}
	}
	if spfRes.value == "temperror" || dkimTemp {
		// Had DNS answered, SPF or DKIM might have passed.
		res.value, res.reason = "temperror", "SPF or DKIM could not be evaluated"
	}
	return res
}
