package resolver

import (
	"errors"
	"net"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts the resolver's work: questions sent upstream by record
// type and outcome, their latency, and how the cache answered. Labels
// are bounded: types outside a fixed list count as "other".
type Metrics struct {
	queries *prometheus.CounterVec
	latency *prometheus.HistogramVec
	cacheC  *prometheus.CounterVec
	panics  prometheus.Counter
}

var metricTypes = map[uint16]string{dns.TypeA: "A", dns.TypeAAAA: "AAAA", dns.TypeMX: "MX", dns.TypeTXT: "TXT",
	dns.TypePTR: "PTR", dns.TypeTLSA: "TLSA", dns.TypeCNAME: "CNAME", dns.TypeSOA: "SOA", dns.TypeNS: "NS", dns.TypeSRV: "SRV"}

// Outcomes of an upstream question; "cancelled": every caller waiting
// for it gave up (abandoned), none for its own deadline (outwaited: a
// timeout), no outcome of the server's.
var outcomes = []string{"ok", "nxdomain", "nodata", "timeout", "error", "cancelled"}

// NewMetrics registers the resolver's metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "umbra_dns_queries_total",
			Help: "DNS questions sent to the servers, by record type and outcome (ok, nxdomain, nodata, timeout, error, cancelled: every caller gave up, none for its own deadline, which is a timeout)."},
			[]string{"type", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "umbra_dns_query_duration_seconds",
			Help:    "Time to an answer from the DNS servers (retries included), by record type.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}, []string{"type"}),
		cacheC: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "umbra_dns_cache_lookups_total",
			Help: "Lookups by how the cache served them: hit, miss (asked upstream), shared (joined a question already asked); evicted counts answers dropped for space."},
			[]string{"result"}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{Name: "umbra_dns_panics_total",
			Help: "Lookups whose goroutine panicked (a defect), recovered: their callers got a temporary error."}),
	}
	reg.MustRegister(m.queries, m.latency, m.cacheC, m.panics)
	for _, r := range []string{"hit", "miss", "shared", "evicted"} {
		m.cacheC.WithLabelValues(r)
	}
	for _, t := range []string{"A", "AAAA", "MX", "TXT", "PTR"} {
		for _, o := range outcomes {
			m.queries.WithLabelValues(t, o)
		}
	}
	return m
}

func typeLabel(t uint16) string {
	if s, ok := metricTypes[t]; ok {
		return s
	}
	return "other"
}

func (m *Metrics) cache(result string) {
	if m != nil {
		m.cacheC.WithLabelValues(result).Inc()
	}
}

func (m *Metrics) panicked() {
	if m != nil {
		m.panics.Inc()
	}
}

func (m *Metrics) query(qtype uint16, a *Answer, err error, d time.Duration) {
	if m == nil {
		return
	}
	t := typeLabel(qtype)
	m.queries.WithLabelValues(t, outcome(a, err)).Inc()
	m.latency.WithLabelValues(t).Observe(d.Seconds())
}

// abandoned counts a question of type qtype that ended because every
// caller waiting for it gave up (umbra's stop, a session's end, a
// delivery attempt cut; none for its own deadline, which is outwaited):
// outcome "cancelled", never "error" or
// "timeout", which would blame the server; no latency, as no answer
// came.
func (m *Metrics) abandoned(qtype uint16) {
	if m != nil {
		m.queries.WithLabelValues(typeLabel(qtype), "cancelled").Inc()
	}
}

// outwaited counts a question of type qtype that ended because its
// callers gave up, one of them for its own deadline, after d: the
// server did not answer in the time that caller had — outcome
// "timeout", as a silent server's, never "cancelled".
func (m *Metrics) outwaited(qtype uint16, d time.Duration) {
	if m == nil {
		return
	}
	t := typeLabel(qtype)
	m.queries.WithLabelValues(t, "timeout").Inc()
	m.latency.WithLabelValues(t).Observe(d.Seconds())
}

func outcome(a *Answer, err error) string {
	var de *net.DNSError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &de) && de.IsNotFound && a != nil && a.Rcode == dns.RcodeNameError:
		return "nxdomain"
	case errors.As(err, &de) && de.IsNotFound:
		return "nodata"
	case errors.As(err, &de) && de.IsTimeout:
		return "timeout"
	default:
		return "error"
	}
}
