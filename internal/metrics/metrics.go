// Package metrics defines umbra's Prometheus metrics and implements the
// observer interfaces of the other packages (queue.Observer, queue.Events,
// smtp.Observer), so those packages stay free of Prometheus.
//
// Invariants: every metric is registered on the registry passed to New
// (no global registration, no init); names follow
// umbra_<subsystem>_<name>_<unit> with _total on counters; labels are
// bounded (connector names, event names, reply classes, outcomes), never
// message ids, addresses or hosts.
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"umbra/internal/queue"
)

// Metrics holds every collector.
type Metrics struct {
	sessions      *prometheus.CounterVec
	rejected      *prometheus.CounterVec
	received      *prometheus.CounterVec
	receivedBytes *prometheus.CounterVec
	events        *prometheus.CounterVec
	commitSeconds prometheus.Histogram
	commitBatch   prometheus.Histogram
	commitErrors  prometheus.Counter
}

// New creates the collectors and registers them on reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		sessions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "umbra_smtp_sessions_total",
			Help: "SMTP sessions opened, by receive connector."}, []string{"connector"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "umbra_smtp_connections_rejected_total",
			Help: "Connections refused before the greeting (limits, no matching connector)."}, []string{"connector", "reason"}),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "umbra_smtp_messages_received_total",
			Help: "Messages accepted and made durable, by receive connector."}, []string{"connector"}),
		receivedBytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "umbra_smtp_received_bytes_total",
			Help: "Bytes of accepted messages, by receive connector."}, []string{"connector"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "umbra_queue_events_total",
			Help: "Message events: receive, send, deliver, defer, fail, dsn, poison (per recipient where one is involved)."},
			[]string{"event"}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "umbra_queue_commit_duration_seconds",
			Help:    "Latency of transport database commits (write and fsync).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		commitBatch: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "umbra_queue_commit_batch_size",
			Help: "Writers folded into one transport database commit.", Buckets: prometheus.ExponentialBuckets(1, 2, 10)}),
		commitErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "umbra_queue_commit_errors_total",
			Help: "Failed transport database commits."}),
	}
	reg.MustRegister(m.sessions, m.rejected, m.received, m.receivedBytes, m.events,
		m.commitSeconds, m.commitBatch, m.commitErrors)
	return m
}

// Commit implements queue.Observer.
func (m *Metrics) Commit(d time.Duration, batch int, err error) {
	m.commitSeconds.Observe(d.Seconds())
	m.commitBatch.Observe(float64(batch))
	if err != nil {
		m.commitErrors.Inc()
	}
}

// Event implements queue.Events.
func (m *Metrics) Event(name string, _ *queue.Message, _ *queue.Recipient, _ string) {
	m.events.WithLabelValues(name).Inc()
}

// Session implements smtp.Observer.
func (m *Metrics) Session(connector string) { m.sessions.WithLabelValues(connector).Inc() }

// Rejected implements smtp.Observer.
func (m *Metrics) Rejected(connector, why string) { m.rejected.WithLabelValues(connector, why).Inc() }

// Received implements smtp.Observer.
func (m *Metrics) Received(connector string, size int) {
	m.received.WithLabelValues(connector).Inc()
	m.receivedBytes.WithLabelValues(connector).Add(float64(size))
}
