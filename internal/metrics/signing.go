package metrics

import "github.com/prometheus/client_golang/prometheus"

// Signing counts the DKIM signatures and ARC sets put on copies leaving
// the organisation (package signing, through delivery's
// SigningObserver). Labels are fixed sets.
type Signing struct {
	dkim *prometheus.CounterVec
	arc  *prometheus.CounterVec
}

// DKIMResults: "signed", "no_key" (no key for the From: or envelope
// sender's domain: sent unsigned), "external" (the message did not
// originate inside the organisation: never signed), "error" (the message could not be
// read as a header and body: sent unsigned).
var DKIMResults = []string{"signed", "no_key", "external", "error"}

// ARCResults: "sealed", "skipped" (this server's Authentication-Results
// is there but the chain cannot be extended: see the log).
var ARCResults = []string{"sealed", "skipped"}

// RegisterSigning adds the signing counters to reg, every series at zero.
func RegisterSigning(reg prometheus.Registerer) *Signing {
	s := &Signing{
		dkim: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "umbra_dkim_signatures_total",
			Help: "Copies leaving the organisation by DKIM signing result (signed; no_key: no key for the From: or envelope sender domain; external: not originated inside the organisation, never signed; error: unreadable message, sent unsigned)."},
			[]string{"result"}),
		arc: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "umbra_arc_sets_total",
			Help: "ARC sets on copies leaving the organisation that carry this server's Authentication-Results (sealed; skipped: the chain could not be extended)."},
			[]string{"result"}),
	}
	reg.MustRegister(s.dkim, s.arc)
	for _, r := range DKIMResults {
		s.dkim.WithLabelValues(r)
	}
	for _, r := range ARCResults {
		s.arc.WithLabelValues(r)
	}
	return s
}

// DKIM counts one copy's DKIM result.
func (s *Signing) DKIM(result string) { s.dkim.WithLabelValues(result).Inc() }

// ARC counts one copy's ARC result.
func (s *Signing) ARC(result string) { s.arc.WithLabelValues(result).Inc() }
