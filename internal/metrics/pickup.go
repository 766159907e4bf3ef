package metrics

import "github.com/prometheus/client_golang/prometheus"

// RegisterPickupPanics registers umbra_pickup_panics_total and returns
// what counts one (pickup.Config.Panicked): a pickup file whose handling
// panicked, recovered, the file refused (.bad).
func RegisterPickupPanics(reg prometheus.Registerer) func() {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "umbra_pickup_panics_total",
		Help: "Pickup files whose handling panicked (a defect), recovered: the file renamed .bad."})
	reg.MustRegister(c)
	return c.Inc
}
