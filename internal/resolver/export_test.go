package resolver

import (
	"context"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// CacheCount reads umbra_dns_cache_lookups_total{result}.
func (m *Metrics) CacheCount(result string) func() float64 {
	return func() float64 { return testutil.ToFloat64(m.cacheC.WithLabelValues(result)) }
}

// QueryCount reads umbra_dns_queries_total{type,outcome}.
func (m *Metrics) QueryCount(typ, outcome string) float64 {
	return testutil.ToFloat64(m.queries.WithLabelValues(typ, outcome))
}

// SetAfterDial sets the hook ask runs between its dial and its exchange
// (nil: none).
func SetAfterDial(f func(ctx context.Context)) { afterDial = f }

// PanicCount reads umbra_dns_panics_total.
func (m *Metrics) PanicCount() float64 { return testutil.ToFloat64(m.panics) }
