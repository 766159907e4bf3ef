package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A known destination exports every TLS outcome and policy failure at
// zero; sessions and failures count under their own labels only.
func TestOutboundTLSSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	o := RegisterOutbound(reg)
	o.Known("internet")
	o.Known("org")
	if n := testutil.CollectAndCount(o.sessions); n != 2*len(OutboundTLS) {
		t.Fatalf("session series on a fresh server: %d", n)
	}
	if n := testutil.CollectAndCount(o.failures); n != 2*len(OutboundPolicies) {
		t.Fatalf("failure series on a fresh server: %d", n)
	}
	o.Session("internet", "TLS 1.3")
	o.Session("internet", "TLS 1.3")
	o.Session("org", "plain")
	o.TLSFailure("internet", "verify")
	want := `
# HELP umbra_outbound_tls_failures_total Outbound sessions not opened because a required or verify TLS policy could not be met (no STARTTLS, a failed handshake or certificate check), by destination and policy.
# TYPE umbra_outbound_tls_failures_total counter
umbra_outbound_tls_failures_total{destination="internet",policy="required"} 0
umbra_outbound_tls_failures_total{destination="internet",policy="verify"} 1
umbra_outbound_tls_failures_total{destination="org",policy="required"} 0
umbra_outbound_tls_failures_total{destination="org",policy="verify"} 0
`
	if err := testutil.CollectAndCompare(o.failures, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	if v := testutil.ToFloat64(o.sessions.WithLabelValues("internet", "TLS 1.3")); v != 2 {
		t.Errorf("TLS 1.3 sessions: %v", v)
	}
	if v := testutil.ToFloat64(o.sessions.WithLabelValues("org", "plain")); v != 1 {
		t.Errorf("plain sessions: %v", v)
	}
	if v := testutil.ToFloat64(o.sessions.WithLabelValues("internet", "none")); v != 0 {
		t.Errorf("none sessions: %v", v)
	}
}
