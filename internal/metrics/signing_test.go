package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestSigningCounters(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := RegisterSigning(reg)
	s.DKIM("signed")
	s.DKIM("signed")
	s.DKIM("external")
	s.ARC("skipped")
	want := `
# HELP umbra_arc_sets_total ARC sets on copies leaving the organisation that carry this server's Authentication-Results (sealed; skipped: the chain could not be extended).
# TYPE umbra_arc_sets_total counter
umbra_arc_sets_total{result="sealed"} 0
umbra_arc_sets_total{result="skipped"} 1
# HELP umbra_dkim_signatures_total Copies leaving the organisation by DKIM signing result (signed; no_key: no key for the From: or envelope sender domain; external: not originated inside the organisation, never signed; error: unreadable message, sent unsigned).
# TYPE umbra_dkim_signatures_total counter
umbra_dkim_signatures_total{result="error"} 0
umbra_dkim_signatures_total{result="external"} 1
umbra_dkim_signatures_total{result="no_key"} 0
umbra_dkim_signatures_total{result="signed"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}
