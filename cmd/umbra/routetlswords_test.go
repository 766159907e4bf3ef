package main

import (
	"strings"
	"testing"

	"umbra/internal/config"
	"umbra/internal/tlspolicy"
)

// rt21d L8 (RT-11, TLS-1): route explain's TLS column names a host's policy source
// once: DANE whose records are all unusable printed "dane dane-unusable"
// (the source, then the mode that repeats it). The mode is shown only
// where it says more than the source (MTA-STS's enforce or testing); the
// effect says what an unusable DANE policy does. No line of the column
// says a word twice in a row, for any decision the engine makes.
func TestRouteExplainTLSColumnSaysNoWordTwice(t *testing.T) {
	hosts := []tlspolicy.HostExplanation{
		{MX: "mx1.d.test", Source: tlspolicy.SourceDANE, Mode: "dane", Effect: "TLS required, certificate must match a TLSA record",
			Detail: "1 TLSA records at _25._tcp.mx1.d.test (1 usable)"},
		{MX: "mx2.d.test", Source: tlspolicy.SourceDANE, Mode: "dane-unusable", Effect: "TLS required, unauthenticated (no usable TLSA record)",
			Detail: "1 TLSA records at _25._tcp.mx2.d.test (0 usable)"},
		{MX: "mx3.d.test", Source: tlspolicy.SourceDANE, Effect: "deferred: TLSA lookup failed in a signed zone", Detail: "TLSA lookup failed"},
		{MX: "mx4.d.test", Source: tlspolicy.SourceMTASTS, Mode: "enforce", Effect: "TLS required, certificate verified for mx4.d.test"},
		{MX: "mx5.d.test", Source: tlspolicy.SourceMTASTS, Mode: "testing", Effect: "delivered whatever the certificate; failures reported"},
		{MX: "mx6.d.test", Source: tlspolicy.SourceConnector, Effect: "tls: opportunistic"},
	}
	var b strings.Builder
	printRouteTLS(&b, routeTLS{Connector: "internet", ConnectorTLS: config.TLSOpportunistic,
		Policy: &tlspolicy.Explanation{Order: "DANE, MTA-STS, connector", DANE: true, MTASTS: true, Hosts: hosts}})
	out := b.String()
	for _, want := range []string{
		"mx1.d.test: dane — TLS required, certificate must match a TLSA record",
		"mx2.d.test: dane — TLS required, unauthenticated (no usable TLSA record)",
		"mx3.d.test: dane — deferred: TLSA lookup failed in a signed zone",
		"mx4.d.test: mta-sts enforce — TLS required",
		"mx5.d.test: mta-sts testing — delivered whatever the certificate",
		"mx6.d.test: connector — tls: opportunistic",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("route explain's TLS column lacks %q:\n%s", want, out)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		words := strings.Fields(line)
		for i := 1; i < len(words); i++ {
			prev := strings.Trim(words[i-1], ":,()")
			if w := strings.Trim(words[i], ":,()"); prev != "" && (w == prev || strings.HasPrefix(w, prev+"-")) {
				t.Errorf("a word twice in a row (%q %q): %s", words[i-1], words[i], line)
			}
		}
	}
}
