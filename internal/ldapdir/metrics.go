package ldapdir

import "github.com/prometheus/client_golang/prometheus"

// dirMetrics are the directory's counters; labels are fixed words.
type dirMetrics struct {
	lookups    *prometheus.CounterVec // result: cache, found, not_found, error, cancelled, panicked
	auths      *prometheus.CounterVec // result: accepted, refused, error, cancelled, panicked
	reconnects *prometheus.CounterVec // result: connected, failed
	panics     prometheus.Counter     // searches whose goroutine panicked, recovered
}

func newDirMetrics(reg prometheus.Registerer) *dirMetrics {
	m := &dirMetrics{
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "umbra_ldap_lookups_total",
			Help: "Recipient lookups in the LDAP directory, by result (cache: answered from the cache; cancelled: its caller ended it; panicked: umbra's defect, recovered; neither a failure of the directory's)."}, []string{"result"}),
		auths: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "umbra_ldap_authentications_total",
			Help: "SMTP AUTH verifications against the LDAP directory, by result (cancelled: its caller ended it; panicked: umbra's defect, recovered; neither a failure of the directory's)."}, []string{"result"}),
		reconnects: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "umbra_ldap_connections_total",
			Help: "Connections to the LDAP directory opened (connected) or attempted in vain (failed)."}, []string{"result"}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{Name: "umbra_ldap_panics_total",
			Help: "Directory searches and binds whose goroutine panicked (a defect), recovered: the lookup or AUTH answered as the directory unavailable."}),
	}
	for _, r := range []string{"cache", "found", "not_found", "error", "cancelled", "panicked"} {
		m.lookups.WithLabelValues(r)
	}
	for _, r := range []string{"accepted", "refused", "error", "cancelled", "panicked"} {
		m.auths.WithLabelValues(r)
	}
	for _, r := range []string{"connected", "failed"} {
		m.reconnects.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.lookups, m.auths, m.reconnects, m.panics)
	}
	return m
}
