package tlspolicy

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"time"
	"umbra/internal/mailaddr"
	"umbra/internal/resolver"

	"github.com/miekg/dns"
)

// Explanation is the TLS policy that applies to a destination domain
// reached by MX, and where it comes from (umbra route explain).
type Explanation struct {
	Domain string `json:"domain"`
	// Order is the policy order umbra applies.
	Order string `json:"order"`
	// MXSecure: the MX RRset was DNSSEC-validated (DANE can apply); for
	// a domain without MX (ImplicitMX), the denial of its MX records
	// (NODATA, never NXDOMAIN) and its own address records were.
	// ImplicitMX: the MX lookup found none (NODATA or NXDOMAIN), so the
	// domain is its own host, as delivery tries it (the one reading of the
	// MX answer below, also the one NoAddress is given).
	MXSecure   bool `json:"mx_secure"`
	ImplicitMX bool `json:"implicit_mx,omitempty"`
	DANE       bool `json:"dane_enabled"`
	MTASTS     bool `json:"mta_sts_enabled"`
	// STS is the MTA-STS policy in force (from the cache in the
	// transport database, or fetched now), nil when none.
	STS *STSExplanation `json:"mta_sts,omitempty"`
	// STSFailure: the domain publishes a policy (an _mta-sts record)
	// whose last fetch failed; with no STS, the domain is treated as
	// having no policy until a fetch succeeds.
	STSFailure *STSFailureExplanation `json:"mta_sts_fetch_failure,omitempty"`
	Hosts      []HostExplanation      `json:"hosts"`
	// STSLookupError: the MTA-STS TXT lookup failed (DNS could not say
	// whether the domain publishes a policy).
	STSLookupError string `json:"mta_sts_lookup_error,omitempty"`
	Error          string `json:"error,omitempty"`
	// NoAddress: no host has an address; the reply delivery gives
	// (resolver.NoAddress), a bounce when NoAddressPermanent, else a
	// deferral.
	NoAddress          string `json:"no_address,omitempty"`
	NoAddressPermanent bool   `json:"no_address_permanent,omitempty"`
}

// STSExplanation describes a cached MTA-STS policy.
type STSExplanation struct {
	Mode    string    `json:"mode"`
	MX      []string  `json:"mx"`
	ID      string    `json:"id"`
	Fetched time.Time `json:"fetched"`
	Expires time.Time `json:"expires"`
	Source  string    `json:"source"` // "mta-sts cache" or "mta-sts fetched now"
}

// STSFailureExplanation is the last failed fetch of a domain's policy.
type STSFailureExplanation struct {
	ID  string    `json:"id"`
	At  time.Time `json:"at"`
	Err string    `json:"error"`
	// NextFetch: the same id is not fetched again before this; a new id
	// is fetched at once.
	NextFetch time.Time `json:"next_fetch"`
	Effect    string    `json:"effect"`
}

// HostExplanation is the decision for one MX host.
type HostExplanation struct {
	MX     string `json:"mx"`
	Source string `json:"source"` // dane, mta-sts, connector
	Mode   string `json:"mode,omitempty"`
	// Effect says what delivery does with the host.
	Effect string `json:"effect"`
	Detail string `json:"detail,omitempty"`
	// Skipped: the MTA-STS policy keeps mail from the host (STSPolicy.Admits
	// false for a message that neither lifts the policy nor asks
	// REQUIRETLS): delivery passes it over before it counts addresses
	// against mx_address_limit (PastAddressLimit).
	Skipped bool `json:"skipped_by_policy,omitempty"`
	// Addresses of the host (CNAMEs: the aliases followed to them), or
	// the lookup that failed.
	Addresses    []string `json:"addresses,omitempty"`
	CNAMEs       []string `json:"cnames,omitempty"`
	AddressError string   `json:"address_error,omitempty"`
}

// PolicyOrder is the order of the policy sources, as documented.
const PolicyOrder = "DANE (DNSSEC-validated TLSA) > MTA-STS (enforce/testing) > send connector tls setting; REQUIRETLS needs one that verifies"

// Explain looks up what delivery would apply to domain's MX hosts now:
// the same lookups, the same cache. connectorTLS is the send
// connector's tls setting, shown where no policy of the domain applies.
func (e *Engine) Explain(ctx context.Context, domain, connectorTLS string, port int) Explanation {
	return e.ExplainUpTo(ctx, domain, connectorTLS, port, 0)
}

// ExplainUpTo is Explain looking up, as one delivery attempt does
// (delivery/mxlookup.go), at most maxNames MX hosts (2 ×
// mx_address_limit; 0: every one): the others are listed, their
// addresses and TLSA records not asked for. A domain that is an address
// (a literal, or IP-address text) is what delivery fails at once with
// 550 5.1.2: nothing is looked up.
func (e *Engine) ExplainUpTo(ctx context.Context, domain, connectorTLS string, port, maxNames int) Explanation {
	domain = mailaddr.NameKey(domain)
	ex := Explanation{Domain: domain, Order: PolicyOrder, DANE: e.cfg.DANE, MTASTS: e.cfg.MTASTS, Hosts: []HostExplanation{}}
	if strings.HasPrefix(domain, "[") || mailaddr.IPText(domain) {
		ex.NoAddress, ex.NoAddressPermanent = "550 5.1.2 "+domain+" is an address, not a domain name: umbra delivers to domains only", true
		return ex
	}
	before := e.Cached(domain)
	sts, stsErr := e.STS(ctx, domain)
	if stsErr != nil {
		ex.STSLookupError = stsErr.Error()
	}
	if sts != nil {
		src := "mta-sts cache"
		if before == nil || before.ID != sts.ID || !before.Fetched.Equal(sts.Fetched) {
			src = "mta-sts fetched now"
		}
		ex.STS = &STSExplanation{Mode: sts.Mode, MX: sts.MX, ID: sts.ID, Fetched: sts.Fetched, Expires: sts.Expires(), Source: src}
	}
	if f, ok := e.LastFetchFailure(domain); ok {
		fe := &STSFailureExplanation{ID: f.ID, At: f.At, Err: f.Err, NextFetch: f.Until}
		if sts != nil {
			fe.Effect = "the cached policy (id " + sts.ID + ") stays in force"
		} else {
			fe.Effect = "no policy in force: delivery follows DANE or the connector until a fetch succeeds"
		}
		ex.STSFailure = fe
	}
	if spent(ctx) {
		// The time ran out in the lookups above: the ones below would
		// fail on the spent time, not on their own answers.
		why := "the MTA-STS lookups"
		if stsErr != nil {
			why = stsErr.Error()
		}
		ex.Error = "MX, DNSSEC and TLSA lookups not made: the time ran out in " + why
		return ex
	}
	ex.MXSecure, _ = e.MXSecurity(ctx, domain)
	mxs, err := e.cfg.Resolver.LookupMX(ctx, domain)
	var names []string
	var prefs []int
	implicit := false
	switch {
	case err == nil && resolver.NullMX(mxs):
		// As delivery answers a null MX (RFC 7505): no host to explain.
		ex.NoAddress, ex.NoAddressPermanent = "556 5.1.10 domain "+domain+" accepts no mail (null MX)", true
		return ex
	case err == nil:
		sort.SliceStable(mxs, func(i, j int) bool { return mxs[i].Pref < mxs[j].Pref })
		for _, m := range mxs {
			n := strings.TrimSuffix(m.Host, ".")
			if n == "" {
				n = "." // the root, no host (resolver.RootMX)
			}
			names = append(names, n)
			prefs = append(prefs, int(m.Pref))
		}
	case isNotFound(err):
		names, implicit = []string{domain}, true // as delivery's nextHopNames: the domain is its own host
		ex.ImplicitMX = true
	default:
		ex.Error = "MX lookup: " + err.Error()
	}
	var failed []resolver.HostLookup
	left := 0 // names not looked up
	for i, n := range names {
		h := HostExplanation{MX: n}
		if maxNames > 0 && i >= maxNames {
			h.Effect = "not looked up: one delivery attempt looks up at most " + strconv.Itoa(maxNames) + " MX hosts (2 × mx_address_limit)"
			ex.Hosts = append(ex.Hosts, h)
			left++
			continue
		}
		if !implicit && n == "." {
			// No host: delivery skips it (resolver.RootMX).
			nerr := resolver.RootMX(prefs[i])
			h.AddressError, h.Effect = nerr.Error(), "skipped: the root names no host, and this answer is no null MX"
			failed = append(failed, resolver.HostLookup{Host: n, Err: nerr})
			ex.Hosts = append(ex.Hosts, h)
			continue
		}
		if !implicit && mailaddr.IPText(n) {
			// No host (RFC 5321 §5.1): delivery skips it, connecting
			// to nothing (resolver.NumericMX).
			nerr := resolver.NumericMX(n)
			h.AddressError, h.Effect = nerr.Error(), "skipped: an MX record must name a host, not an IP address"
			failed = append(failed, resolver.HostLookup{Host: n, Err: nerr})
			ex.Hosts = append(ex.Hosts, h)
			continue
		}
		h.Addresses, h.CNAMEs, err = e.addresses(ctx, n)
		if err != nil {
			h.AddressError = err.Error()
			failed = append(failed, resolver.HostLookup{Host: n, Err: err})
		}
		d, err := e.Host(ctx, domain, ex.MXSecure, n, port, sts)
		switch {
		case err != nil:
			h.Source, h.Effect, h.Detail = SourceDANE, "deferred: TLSA lookup failed in a signed zone", err.Error()
		case d == nil:
			h.Source, h.Effect = SourceConnector, "tls: "+connectorTLS
		default:
			h.Source, h.Mode, h.Detail = d.Source, d.Mode, d.Detail
			switch {
			case d.Source == SourceDANE && d.Verify == nil:
				h.Effect = "TLS required, unauthenticated (no usable TLSA record)"
			case d.Source == SourceDANE:
				h.Effect = "TLS required, certificate must match a TLSA record"
			case d.Enforce:
				h.Effect = "TLS required, certificate verified for " + n
			default:
				h.Effect = "delivered whatever the certificate; failures reported"
			}
			if sts != nil && d.Source == SourceMTASTS && !sts.MatchMX(n) && !d.Enforce {
				h.Effect += "; not listed in the MTA-STS policy (reported)"
			}
		}
		if !sts.Admits(n, false, false) {
			// As delivery decides it (filterHosts), before any TLSA record.
			h.Skipped, h.Effect = true, "not used: not listed in the MTA-STS policy"
		}
		ex.Hosts = append(ex.Hosts, h)
	}
	switch {
	case left > 0 && len(failed) == len(names)-left:
		// The hosts not looked up may have addresses: delivery defers.
		ex.NoAddress = "451 4.4.4 no address for the hosts of " + domain + " looked up; " + strconv.Itoa(left) + " more MX hosts not looked up in an attempt"
	case len(names) > 0 && len(failed) == len(names):
		ex.NoAddress, ex.NoAddressPermanent = resolver.NoAddress(domain, implicit, failed)
	}
	return ex
}

// addresses looks a host up as delivery does (the same resolver and
// cache), with the aliases followed to its addresses.
func (e *Engine) addresses(ctx context.Context, host string) ([]string, []string, error) {
	addrs, err := e.cfg.Resolver.LookupHost(ctx, host)
	var cnames []string
	for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
		if a, _ := e.cfg.Resolver.Lookup(ctx, host, t); a != nil && len(a.CNAMEs) > 0 {
			cnames = a.CNAMEs
			break
		}
	}
	return addrs, cnames, err
}

// spent: ctx ended, or its deadline passed (a network deadline set from
// it can fire before ctx's own timer marks it done).
func spent(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	dl, ok := ctx.Deadline()
	return ok && !time.Now().Before(dl)
}

// PastAddressLimit is what route explain shows of mx_address_limit
// (limit > 0): the addresses one delivery attempt does not connect to,
// as "HOST[ADDR]" in the order delivery comes to them, and how many
// addresses it counts in all. Hosts the MTA-STS policy keeps mail from
// (Skipped) are passed over before they are counted, as delivery does.
func (ex *Explanation) PastAddressLimit(limit int) (beyond []string, n int) {
	for _, h := range ex.Hosts {
		if h.Skipped {
			continue
		}
		for _, a := range h.Addresses {
			if n++; n > limit {
				beyond = append(beyond, h.MX+"["+a+"]")
			}
		}
	}
	return beyond, n
}
