package connfilter

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"umbra/internal/config"
)

// Metrics counts connection filtering. One Metrics lives as long as the
// server (checks rebuilt on reload share it).
type Metrics struct {
	lists   *prometheus.CounterVec
	verdict *prometheus.CounterVec
	helo    *prometheus.CounterVec
	panics  prometheus.Counter

	// mu guards the zones of umbra_dnsbl_lookups_total: seen, those it
	// has series of; inForce, the zones of the lists in force (set by
	// KeepLists); retired, the zones a reload took out and none has put
	// back since — only their lookups are not counted: a list a reload
	// adds is asked by the rebuilt checks before KeepLists hears of it,
	// and counted from its first lookup (as Limiter's retired).
	mu                     sync.Mutex
	seen, inForce, retired map[string]bool
	// conns are the same for the connectors of umbra_dnsbl_verdicts_total:
	// those that ask DNS lists (connectorsAsking).
	conns seriesKeys
}

// seriesKeys are the label values of a metric's series that a reload
// may retire (KeepLists): seen, those it has series of; inForce, those
// of the configuration in force; retired, those a reload took out and
// none has put back since.
type seriesKeys struct{ seen, inForce, retired map[string]bool }

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
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.retired[zone] {
		// A lookup of a list a reload removed, on a connection accepted
		// before it, ending late: it brings no series back.
		return
	}
	if m.seen == nil {
		m.seen = map[string]bool{}
	}
	m.seen[zone] = true
	m.lists.WithLabelValues(zone, result).Inc()
}

// KeepLists deletes the series of umbra_dnsbl_lookups_total of the
// zones no list of connectors asks any more (a reload removed them), so
// that a removed list is not exported for the process's life, and notes
// the zones in force: a late lookup of a removed one is not counted.
// Call it at the start and once a reload has been applied, as
// Limiter.KeepLists (front48 item 4).
func (m *Metrics) KeepLists(connectors []config.ReceiveConnector) {
	if m == nil {
		return
	}
	zones := zonesAsked(connectors)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.retired = retire(m.retired, m.inForce, zones)
	for z := range m.seen {
		if !zones[z] {
			m.lists.DeletePartialMatch(prometheus.Labels{"zone": z})
			delete(m.seen, z)
			m.retired[z] = true
		}
	}
	for z := range zones {
		delete(m.retired, z) // put back: counted again
	}
	m.inForce = zones
	// The connectors' verdict series likewise (words49 item 3): a
	// connector a reload removed, or whose lists it removed, is not
	// exported for the process's life.
	conns := connectorsAsking(connectors)
	m.conns.retired = retire(m.conns.retired, m.conns.inForce, conns)
	for c := range m.conns.seen {
		if !conns[c] {
			m.verdict.DeletePartialMatch(prometheus.Labels{"connector": c})
			delete(m.conns.seen, c)
			m.conns.retired[c] = true
		}
	}
	for c := range conns {
		delete(m.conns.retired, c)
	}
	m.conns.inForce = conns
}

// connectorsAsking are the names of the connectors that ask DNS lists:
// the only ones with DNS list verdicts.
func connectorsAsking(connectors []config.ReceiveConnector) map[string]bool {
	out := map[string]bool{}
	for _, rc := range connectors {
		if rc.ConnectionFiltering.Enabled() && len(rc.ConnectionFiltering.DNSBL.Lists) > 0 {
			out[rc.Name] = true
		}
	}
	return out
}

func (m *Metrics) dnsblVerdict(connector, action string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.conns.retired[connector] {
		// A verdict of a connection accepted before a reload removed
		// its connector, ending late: it brings no series back.
		return
	}
	if m.conns.seen == nil {
		m.conns.seen = map[string]bool{}
	}
	m.conns.seen[connector] = true
	m.verdict.WithLabelValues(connector, action).Inc()
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
