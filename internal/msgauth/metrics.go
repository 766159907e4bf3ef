package msgauth

import "github.com/prometheus/client_golang/prometheus"

// Metrics counts results per method and result value (both bounded
// sets). One Metrics serves every connector and outlives reloads.
type Metrics struct {
	results *prometheus.CounterVec
}

// NewMetrics registers the counters on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{results: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "umbra_msgauth_results_total",
		Help: "Message authentication results at the end of data, by method (spf, helo_spf, dkim, dmarc, arc) and result.",
	}, []string{"method", "result"})}
	reg.MustRegister(m.results)
	return m
}

var resultValues = map[string]bool{"none": true, "pass": true, "fail": true, "softfail": true, "neutral": true,
	"temperror": true, "permerror": true, "policy": true, "cancelled": true, "panicked": true}

// observe counts a message's results. A method the session's end (the
// client gone, umbra stopping) cut short (r.cut: its result came once
// the session had ended) has a temperror that is the cut, not DNS
// failing: counted "cancelled"
// (TestMessageAuthenticationCutBySessionEndCountedCancelled); one that
// ended before keeps its temperror
// (TestMessageAuthenticationCutCountsOnlyTheMethodsItCut). The check's
// own time limit is no such cut: DNS did not answer in time. A
// temperror of a method one of whose lookups the resolver answered with
// its recovered panic (r.crashed) is umbra's defect: "panicked"
// (TestMessageAuthenticationResolverPanicCountedPanicked).
func (m *Metrics) observe(r *results) {
	if m == nil {
		return
	}
	inc := func(method, v string) {
		switch {
		case r.crashed[method] && v == "temperror":
			v = "panicked" // the resolver's recovered panic: umbra's defect
		case r.cut[method] && v == "temperror":
			v = "cancelled"
		}
		if !resultValues[v] {
			v = "other"
		}
		m.results.WithLabelValues(method, v).Inc()
	}
	if r.spfRun {
		inc("spf", r.spf.value)
	}
	if r.heloRun {
		inc("helo_spf", r.helo.value)
	}
	if r.dkimRun {
		inc("dkim", r.dkimSummary())
	}
	if r.dmarcRun {
		inc("dmarc", r.dmarc.value)
	}
	if r.arcRun {
		inc("arc", r.arc.value)
	}
}
