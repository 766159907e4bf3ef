package milter

import "github.com/prometheus/client_golang/prometheus"

// Metrics counts what milters answer and how they fail. Labels are
// bounded: milter names come from the configuration, stages, replies,
// actions and reasons are fixed sets.
type Metrics struct {
	replies  *prometheus.CounterVec
	mods     *prometheus.CounterVec
	failures *prometheus.CounterVec
}

// NewMetrics registers the milter metrics on reg (once per process: the
// checks rebuilt on a reload share them).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		replies: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "umbra_milter_replies_total",
			Help: "Milter replies by milter, stage and reply."}, []string{"milter", "stage", "reply"}),
		mods: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "umbra_milter_modifications_total",
			Help: "Milter modifications applied, by milter and action."}, []string{"milter", "action"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "umbra_milter_failures_total",
			Help: "Milter failures (connect, timeout, protocol, io) by milter and stage; the failure policy answered."}, []string{"milter", "stage", "reason"}),
	}
	if reg != nil {
		reg.MustRegister(m.replies, m.mods, m.failures)
	}
	return m
}

func replyName(code byte) string {
	switch code {
	case repAccept:
		return "accept"
	case repContinue:
		return "continue"
	case repDiscard:
		return "discard"
	case repReject:
		return "reject"
	case repTempfail:
		return "tempfail"
	case repReplyCode:
		return "replycode"
	case repSkip:
		return "skip"
	}
	return "other"
}

func (m *Metrics) reply(milter, stage string, code byte) {
	if m != nil {
		m.replies.WithLabelValues(milter, stage, replyName(code)).Inc()
	}
}

func (m *Metrics) modification(milter, action string) {
	if m != nil {
		m.mods.WithLabelValues(milter, action).Inc()
	}
}

func (m *Metrics) failure(milter, stage, reason string) {
	if m != nil {
		m.failures.WithLabelValues(milter, stage, reason).Inc()
	}
}
