package metrics

import "github.com/prometheus/client_golang/prometheus"

// Outbound counts outbound SMTP sessions by TLS outcome, and the sessions
// a required or verify TLS policy refused: the delivery package's
// OutboundObserver. Destinations are bounded: a send connector's name,
// "redirect" for an operator's redirect, "org" for relays to servers of the topology, "mailbox" for its mailbox
// servers (LMTP).
type Outbound struct {
	sessions *prometheus.CounterVec
	failures *prometheus.CounterVec
}

// OutboundTLS are the TLS outcomes of an outbound session: "none" (the
// policy never tries STARTTLS), "plain" (opportunistic, and the server
// offered no STARTTLS or its handshake failed) and the negotiated
// versions.
var OutboundTLS = []string{"none", "plain", "TLS 1.2", "TLS 1.3"}

// OutboundPolicies are the policies whose failures are counted: the
// session is not opened and the recipients are deferred.
var OutboundPolicies = []string{"required", "verify"}

// RegisterOutbound adds the outbound TLS collectors to reg.
func RegisterOutbound(reg prometheus.Registerer) *Outbound {
	o := &Outbound{
		sessions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "umbra_outbound_sessions_total",
			Help: "Outbound SMTP/LMTP sessions opened, by destination (send connector; redirect: an operator's redirect, whatever connector's settings it borrows; org, mailbox: the topology's servers) and TLS outcome (none: not tried, plain: opportunistic without TLS, or the TLS version)."},
			[]string{"destination", "tls"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "umbra_outbound_tls_failures_total",
			Help: "Outbound sessions not opened because a required or verify TLS policy could not be met (no STARTTLS, a failed handshake or certificate check), by destination and policy."},
			[]string{"destination", "policy"}),
	}
	reg.MustRegister(o.sessions, o.failures)
	return o
}

// Known creates a destination's series at zero: a fresh server shows
// every one, and a reload adds the new ones.
func (o *Outbound) Known(destination string) {
	for _, t := range OutboundTLS {
		o.sessions.WithLabelValues(destination, t)
	}
	for _, p := range OutboundPolicies {
		o.failures.WithLabelValues(destination, p)
	}
}

// Forget drops a destination's series (a send connector a reload
// removed): a removed connector is not exported at its last counts until
// a restart.
func (o *Outbound) Forget(destination string) {
	o.sessions.DeletePartialMatch(prometheus.Labels{"destination": destination})
	o.failures.DeletePartialMatch(prometheus.Labels{"destination": destination})
}

// Session counts an opened session with its TLS outcome.
func (o *Outbound) Session(destination, tls string) {
	o.sessions.WithLabelValues(destination, tls).Inc()
}

// TLSFailure counts a session a TLS policy refused.
func (o *Outbound) TLSFailure(destination, policy string) {
	o.failures.WithLabelValues(destination, policy).Inc()
}
