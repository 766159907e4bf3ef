package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"umbra/internal/admin"
	"umbra/internal/config"
	"umbra/internal/mailaddr"
	"umbra/internal/routing"
	"umbra/internal/tlspolicy"
)

// routeTLS is the outbound TLS policy of one explained recipient whose
// route leaves through a send connector (route explain).
type routeTLS struct {
	Recipient string `json:"recipient"`
	Connector string `json:"connector"`
	// ConnectorTLS is the connector's tls setting; SmartHost set means
	// the domain's own policies do not apply (the smart host is not its MX).
	ConnectorTLS string `json:"connector_tls"`
	SmartHost    bool   `json:"smart_host,omitempty"`
	// SmartHosts are the hosts the connector sends to: its own, else
	// the topology connector's of the same name (delivery.InheritTopology).
	SmartHosts []string `json:"smart_hosts,omitempty"`
	// Policy is the daemon's answer: DANE, the MTA-STS cache, or the
	// connector setting per MX host; nil when no daemon answered.
	Policy *tlspolicy.Explanation `json:"policy,omitempty"`
	Note   string                 `json:"note,omitempty"`
	// MXAddressLimit and MXSessionLimit bound one delivery attempt to
	// the MX hosts (0: no bound); not for smart hosts.
	MXAddressLimit int `json:"mx_address_limit"`
	MXSessionLimit int `json:"mx_session_limit"`
}

// explainTLS asks the running daemon (its policy cache is in the
// transport database, which only the daemon opens) which TLS policy
// applies to each route that leaves through a send connector. client
// is the daemon whose configuration cfg is (explainConfig); nil, with
// why, when cfg is a file: nothing is asked.
func explainTLS(client *admin.Client, why string, cfg *config.Config, tp *routing.Topology, routes []routing.Route) []routeTLS {
	var out []routeTLS
	asked := map[string]*tlspolicy.Explanation{}
	for _, r := range routes {
		if len(r.NextHops) == 0 || r.NextHops[0].Kind != routing.HopConnector {
			continue
		}
		name := r.NextHops[0].Connector
		rt := routeTLS{Recipient: r.Recipient, Connector: name, ConnectorTLS: config.TLSOpportunistic,
			MXAddressLimit: config.DefaultMXAddressLimit, MXSessionLimit: config.DefaultMXSessionLimit} // a topology connector's (delivery, topoConnector)
		for _, sc := range cfg.SendConnectors {
			if sc.Name == name {
				rt.ConnectorTLS, rt.SmartHost, rt.SmartHosts = sc.TLS, len(sc.SmartHosts) > 0, sc.SmartHosts
				rt.MXAddressLimit, rt.MXSessionLimit = sc.MXAddressLimit, sc.MXSessionLimit
			}
		}
		if !rt.SmartHost && tp != nil { // what the configured one does not write is the topology's (delivery.InheritTopology)
			if tc, ok := tp.Connector(name); ok {
				rt.SmartHost, rt.SmartHosts = len(tc.SmartHosts) > 0, tc.SmartHosts
			}
		}
		domain := mailaddr.DomainKey(r.Recipient[strings.LastIndexByte(r.Recipient, '@')+1:])
		switch {
		case rt.SmartHost:
			rt.Note = "smart host " + strings.Join(rt.SmartHosts, ", ") + ": the connector's tls setting applies (DANE and MTA-STS are for the domain's MX hosts)"
		case client == nil:
			rt.Note = "DANE and MTA-STS not looked up: " + why
		default:
			if ex, ok := asked[domain]; ok {
				rt.Policy = ex
				break
			}
			var ex tlspolicy.Explanation
			if err := client.TLSPolicy(domain, &ex); err != nil {
				rt.Note = fmt.Sprintf("DANE and MTA-STS not looked up (the policy cache is the daemon's): %v", err)
			} else {
				rt.Policy, asked[domain] = &ex, &ex
			}
		}
		out = append(out, rt)
	}
	return out
}

func printRouteTLS(out io.Writer, t routeTLS) {
	fmt.Fprintf(out, "  tls policy:  send connector %s, tls: %s\n", t.Connector, t.ConnectorTLS)
	if t.Note != "" {
		fmt.Fprintf(out, "    %s\n", t.Note)
	}
	p := t.Policy
	if p == nil {
		printMXLimits(out, t)
		return
	}
	fmt.Fprintf(out, "    order: %s\n", p.Order)
	if p.ImplicitMX {
		fmt.Fprintf(out, "    dane: %s, mta-sts: %s, no MX record (the domain is its own host): MX denial and address records DNSSEC-validated: %v\n",
			onOff(p.DANE), onOff(p.MTASTS), p.MXSecure)
	} else {
		fmt.Fprintf(out, "    dane: %s, mta-sts: %s, MX RRset DNSSEC-validated: %v\n", onOff(p.DANE), onOff(p.MTASTS), p.MXSecure)
	}
	if p.STS != nil {
		fmt.Fprintf(out, "    mta-sts policy (%s): mode %s, mx %s, id %s, expires %s\n", p.STS.Source, p.STS.Mode,
			strings.Join(p.STS.MX, " "), p.STS.ID, p.STS.Expires.UTC().Format("2006-01-02 15:04:05Z"))
	}
	if f := p.STSFailure; f != nil {
		fmt.Fprintf(out, "    mta-sts policy id %s published, fetch failed at %s: %s\n", f.ID, f.At.UTC().Format("2006-01-02 15:04:05Z"), f.Err)
		fmt.Fprintf(out, "      %s; id %s fetched again after %s, a new id at once\n", f.Effect, f.ID, f.NextFetch.UTC().Format("2006-01-02 15:04:05Z"))
	}
	if p.STSLookupError != "" {
		fmt.Fprintf(out, "    mta-sts: %s\n", p.STSLookupError)
	}
	if p.Error != "" {
		fmt.Fprintf(out, "    error: %s\n", p.Error)
	}
	for _, h := range p.Hosts {
		src := h.Source
		// The mode where it says more than the source (MTA-STS's enforce,
		// testing); DANE's modes repeat its name (dane, dane-unusable),
		// and the effect says what an unusable DANE policy does (rt21d L8).
		if h.Mode != "" && h.Mode != h.Source && !strings.HasPrefix(h.Mode, h.Source+"-") {
			src += " " + h.Mode
		}
		if src == "" { // not looked up (past what one attempt looks up)
			fmt.Fprintf(out, "    %s: %s\n", h.MX, h.Effect)
			continue
		}
		fmt.Fprintf(out, "    %s: %s — %s\n", h.MX, src, h.Effect)
		if h.Detail != "" {
			fmt.Fprintf(out, "      (%s)\n", h.Detail)
		}
		via := ""
		if len(h.CNAMEs) > 0 {
			via = " (CNAME " + strings.Join(append([]string{h.MX}, h.CNAMEs...), " -> ") + ")"
		}
		switch {
		case h.AddressError != "":
			fmt.Fprintf(out, "      no address: %s\n", h.AddressError)
		case len(h.Addresses) > 0:
			fmt.Fprintf(out, "      addresses: %s%s\n", strings.Join(h.Addresses, " "), via)
		}
	}
	printMXLimits(out, t)
	if p.NoAddress != "" {
		what := "delivery deferred (retried)"
		if p.NoAddressPermanent {
			what = "delivery fails at once (bounce)"
		}
		fmt.Fprintf(out, "    %s: %s\n", what, p.NoAddress)
	}
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// printMXLimits shows what one delivery attempt tries of the MX hosts
// listed (delivery: mxLimit): the addresses past mx_address_limit, in
// preference order, wait until the hosts before them are fewer.
func printMXLimits(out io.Writer, t routeTLS) {
	if t.SmartHost {
		return
	}
	limit := func(n int) string {
		if n == 0 {
			return "no bound"
		}
		return strconv.Itoa(n)
	}
	fmt.Fprintf(out, "    per attempt: mx_address_limit %s (addresses connected to, in preference order; equal preferences in random order), mx_session_limit %s (hosts that answer SMTP)\n",
		limit(t.MXAddressLimit), limit(t.MXSessionLimit))
	if t.Policy == nil || t.MXAddressLimit == 0 {
		return
	}
	if beyond, n := t.Policy.PastAddressLimit(t.MXAddressLimit); len(beyond) > 0 {
		fmt.Fprintf(out, "    not tried in an attempt (past mx_address_limit %d of %d addresses): %s\n", t.MXAddressLimit, n, strings.Join(beyond, " "))
	}
}
