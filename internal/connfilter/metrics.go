package connfilter

import "github.com/prometheus/client_golang/prometheus"

// Metrics counts connection filtering. One Metrics lives as long as the
// server (checks rebuilt on reload share it).
type Metrics struct {
	lists   *prometheus.CounterVec
	verdict *prometheus.CounterVec
	helo    *prometheus.CounterVec
	panics  prometheus.Counter
}

// NewMetrics registers connection filtering's metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		lists: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "umbra_dnsbl_lookups_total",
			Help: "DNS list lookups by zone and result: listed, clear, error (not answered), misconfigured (an answer outside 127.0.0.0/8 or an error code), cancelled (umbra stopped asking), panicked (umbra's defect, recovered)."},
			[]string{"zone", "result"}),
		verdict: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "umbra_dnsbl_verdicts_total",
			Help: "Connections whose DNS list score reached the threshold, by connector and action taken (reject, tempfail, log), and those exempted."},
			[]string{"connector", "action"}),
		helo: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "umbra_helo_checks_total",
			Help: "HELO checks by check (syntax, fcrdns, must_resolve) and result (pass, fail, error, cancelled: umbra stopped asking, panicked: the resolver's recovered panic)."},
			[]string{"check", "result"}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{Name: "umbra_dnsbl_panics_total",
			Help: "DNS list lookups whose goroutine panicked (a defect), recovered: the list counted as not listing (fail open), and not blamed."}),
	}
	reg.MustRegister(m.lists, m.verdict, m.helo, m.panics)
	for _, c := range []string{"syntax", "fcrdns", "must_resolve"} {
		for _, r := range []string{"pass", "fail", "error", "cancelled", "panicked"} {
			m.helo.WithLabelValues(c, r)
		}
	}
	return m
}

func (m *Metrics) list(zone, result string) {
	if m != nil {
		m.lists.WithLabelValues(zone, result).Inc()
	}
}

func (m *Metrics) dnsblVerdict(connector, action string) {
	if m != nil {
		m.verdict.WithLabelValues(connector, action).Inc()
	}
}

func (m *Metrics) heloResult(check, result string) {
	if m != nil {
		m.helo.WithLabelValues(check, result).Inc()
	}
}

func (m *Metrics) panicked() {
	if m != nil {
		m.panics.Inc()
	}
}
