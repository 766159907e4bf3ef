package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// OPS-2 (rt41): Forget drops every series of a destination (a send
// connector a reload removed), and only its.
func TestOPS2OutboundForgetDropsTheDestination(t *testing.T) {
	o := RegisterOutbound(prometheus.NewRegistry())
	o.Known("kept")
	o.Known("gone")
	o.TLSFailure("gone", "verify")
	o.Session("gone", "plain")
	o.Forget("gone")
	if n := testutil.CollectAndCount(o.failures); n != len(OutboundPolicies) {
		t.Errorf("failure series after Forget: %d, want %d (kept's)", n, len(OutboundPolicies))
	}
	if n := testutil.CollectAndCount(o.sessions); n != len(OutboundTLS) {
		t.Errorf("session series after Forget: %d, want %d (kept's)", n, len(OutboundTLS))
	}
}
