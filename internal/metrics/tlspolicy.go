package metrics

import "github.com/prometheus/client_golang/prometheus"

// TLSPolicy counts outbound sessions under the destinations' own TLS
// policies (TLS-RPT's counts, RFC 8460), by policy type (tlsa, sts,
// no-policy-found) and result ("success" or an RFC 8460 result type:
// a bounded set).
type TLSPolicy struct {
	results *prometheus.CounterVec
	cached  prometheus.GaugeFunc
}

// TLSPolicyTypes and TLSPolicyResults are created at zero.
var (
	TLSPolicyTypes   = []string{"tlsa", "sts", "no-policy-found"}
	TLSPolicyResults = []string{"success", "starttls-not-supported", "certificate-host-mismatch", "certificate-expired",
		"certificate-not-trusted", "validation-failure", "tlsa-invalid", "dnssec-invalid",
		"sts-policy-fetch-error", "sts-policy-invalid", "sts-webpki-invalid"}
)

// RegisterTLSPolicy registers umbra_tls_policy_sessions_total and
// umbra_tls_policy_cached (the MTA-STS policies in the transport
// database, from cached()).
func RegisterTLSPolicy(reg prometheus.Registerer, cached func() float64) *TLSPolicy {
	m := &TLSPolicy{results: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "umbra_tls_policy_sessions_total",
		Help: "Outbound sessions to MX hosts by the destination's TLS policy type (tlsa: DANE, sts: MTA-STS, no-policy-found) and result (success or the RFC 8460 result type)."},
		[]string{"policy_type", "result"})}
	for _, t := range TLSPolicyTypes {
		for _, r := range TLSPolicyResults {
			m.results.WithLabelValues(t, r)
		}
	}
	reg.MustRegister(m.results)
	if cached != nil {
		m.cached = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "umbra_tls_policy_cached",
			Help: "MTA-STS policies cached in the transport database and still valid (not past their max_age)."}, cached)
		reg.MustRegister(m.cached)
	}
	return m
}

// TLSResult counts one session (tlspolicy.Metrics).
func (m *TLSPolicy) TLSResult(policyType, result string) {
	m.results.WithLabelValues(policyType, result).Inc()
}
