package metrics

import (
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"umbra/internal/queue"
	"umbra/internal/smtp"
)

// Operations metrics: build, delivery latency and per-destination
// results, TLS, reloads, suspended queues; and the series a fresh server
// shows before any traffic, so that dashboards and alerts never watch
// nothing.

// Ops holds the operations collectors.
type Ops struct {
	latency      *prometheus.HistogramVec
	destinations *prometheus.CounterVec
	loops        *prometheus.CounterVec
	tls          *prometheus.CounterVec
	reloads      *reloadCollector
}

// reloadCollector is the reload series as one collector: the count of
// reloads by result, the last one's success and time, and whether the
// file last reloaded has a part the running daemon did not take that a
// restart would refuse or change. Written and read under one lock, so a
// scrape that counts a reload shows that reload's result: an alert (or a
// test) that joins the count and the gauges never reads a reload counted
// beside the gauges of the one before it, as separate collectors,
// gathered in parallel, allowed.
type reloadCollector struct {
	count, ok, time, restartFail *prometheus.Desc

	mu          sync.Mutex
	oks, fails  float64
	lastOK      bool
	lastSuccess time.Time
	restart     bool
}

func newReloadCollector() *reloadCollector {
	return &reloadCollector{
		count: prometheus.NewDesc("umbra_config_reloads_total",
			"Configuration reloads (SIGHUP), by result (ok, failed).", []string{"result"}, nil),
		ok: prometheus.NewDesc("umbra_config_last_reload_successful",
			"1 if the last configuration reload succeeded (or none was tried), 0 if it failed.", nil, nil),
		time: prometheus.NewDesc("umbra_config_last_reload_success_timestamp_seconds",
			"When the configuration was last loaded successfully (start or reload).", nil, nil),
		restartFail: prometheus.NewDesc("umbra_config_restart_would_fail",
			"1 while the configuration file last reloaded has a part the running daemon did not take that a restart would refuse or change "+
				"(a part only a restart applies refused, a setting only a restart applies changed, or the reload failed); 0 after a start, and after a reload with none.", nil, nil),
		lastOK:      true,
		lastSuccess: time.Now(),
	}
}

func (c *reloadCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.count
	ch <- c.ok
	ch <- c.time
	ch <- c.restartFail
}

func (c *reloadCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	oks, fails, lastOK, at, restart := c.oks, c.fails, c.lastOK, c.lastSuccess, c.restart
	c.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(c.count, prometheus.CounterValue, oks, "ok")
	ch <- prometheus.MustNewConstMetric(c.count, prometheus.CounterValue, fails, "failed")
	ch <- prometheus.MustNewConstMetric(c.ok, prometheus.GaugeValue, b2f(lastOK))
	ch <- prometheus.MustNewConstMetric(c.time, prometheus.GaugeValue, float64(at.Unix()))
	ch <- prometheus.MustNewConstMetric(c.restartFail, prometheus.GaugeValue, b2f(restart))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// eventNames are the message events a fresh server shows at zero.
var eventNames = []string{"receive", "send", "deliver", "defer", "fail", "dsn", "bounce-lost", "poison", "remove", "takeover", "giveback", "discard",
	"quarantine", "release", "results-pending", "repeat", "finished-elsewhere", "held-elsewhere", "single-copy", "copy-unconfirmed"}

// queueTypes are the delivery types the queue gauges always report.
var queueTypes = []string{"smtp-mx", "smtp-smart-host", "mailbox", "site", "shadow", "smtp-redirect", "legacy",
	queue.QueueSubmission, queue.QueuePoison, "unreachable", queue.QueueQuarantine, queue.QueueDamaged}

// RegisterOps adds the operations collectors: umbra_build_info with
// version, the delivery-latency histogram, results per destination, TLS
// sessions and reloads. Every label is bounded (see Destination).
func (m *Metrics) RegisterOps(reg prometheus.Registerer, version string) *Ops {
	build := prometheus.NewGauge(prometheus.GaugeOpts{Name: "umbra_build_info",
		Help:        "Always 1; the labels name the running build.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()}})
	build.Set(1)
	o := &Ops{
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "umbra_delivery_latency_seconds",
			Help:    "Time from arrival to a recipient's final delivery or relay, by queue type.",
			Buckets: []float64{0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600}}, []string{"queue_type"}),
		destinations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "umbra_delivery_results_total",
			Help: "Delivery results per recipient, by destination (a send connector, mailbox database, site or legacy connector; MX destinations as one, mx; an operator's redirects as one, redirect) and result (sent, delivered, deferred, failed)."},
			[]string{"destination", "result"}),
		loops: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "umbra_delivery_routing_loops_total",
			Help: "Recipients deferred as a routing loop (451 4.4.6): a next hop that is this server itself, or mail that would go back to the server of the organisation it came from (the two servers' topologies disagree), by destination."},
			[]string{"destination"}),
		tls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "umbra_smtp_tls_sessions_total",
			Help: "Inbound sessions that negotiated TLS, by connector and protocol version."}, []string{"connector", "version"}),
		reloads: newReloadCollector(),
	}
	reg.MustRegister(build, o.latency, o.destinations, o.loops, o.tls, o.reloads)
	for _, typ := range []string{"smtp-mx", "smtp-smart-host", "mailbox", "site"} {
		o.latency.WithLabelValues(typ)
	}
	m.ops = o
	return o
}

// Reload records a reload's result: err is the reload's refusal (the
// running configuration stays in force), pending whether the file it
// read has a part the running daemon did not take that a restart would
// refuse or change. A failed reload is such a part too: what refused
// the reload refuses the start.
func (o *Ops) Reload(err error, pending bool) {
	c := o.reloads
	c.mu.Lock()
	defer c.mu.Unlock()
	c.restart = err != nil || pending
	c.lastOK = err == nil
	if err != nil {
		c.fails++
		return
	}
	c.oks++
	c.lastSuccess = time.Now()
}

// TLS implements the smtp package's optional TLS observer. version is
// one of crypto/tls's few version names.
func (m *Metrics) TLS(connector, version string) {
	if m.ops != nil {
		m.ops.tls.WithLabelValues(connector, version).Inc()
	}
}

// Destination is the bounded label of a recipient's queue: the send
// connector, mailbox database, site or legacy connector it names (from
// the configuration), and for per-domain MX and redirect queues only
// their kind, since domains are unbounded; "unreachable" for recipients
// with no route, "submission" for none, "other" for a queue of no kind
// umbra makes.
func Destination(queueName string) string {
	kind, _, _ := strings.Cut(queueName, ":")
	switch kind {
	case "mx", "redirect":
		return kind
	case "smarthost", "mailbox", "site", "legacy":
		return queueName
	case "unreachable":
		return kind // recipients with no route (rt47 F4: was "other")
	case "":
		return queue.QueueSubmission
	}
	return "other" // a queue of no kind umbra makes
}

// observeDelivery counts a recipient's event for its destination and, at
// a final delivery or relay, the latency since arrival. A recipient's
// "shadow" event is a relay whose next hop (a transport server of the
// organisation) keeps this server's copy as its shadow: sent, as a
// relay to any other next hop — every relay between umbra servers with
// shadow redundancy on, which counted nothing here, so a relaying hub
// showed only its deferrals (rt45 ops F2). A copy on receipt held for
// another primary (no recipient) is no delivery.
func (m *Metrics) observeDelivery(name string, msg *queue.Message, r *queue.Recipient) {
	if m.ops == nil || r == nil {
		return
	}
	result := map[string]string{"send": "sent", "shadow": "sent", "deliver": "delivered", "defer": "deferred", "fail": "failed"}[name]
	if result == "" {
		return
	}
	m.ops.destinations.WithLabelValues(Destination(r.Queue), result).Inc()
	if result == "deferred" && queue.RoutingLoop(r.LastReply, r.NextHop) {
		m.ops.loops.WithLabelValues(Destination(r.Queue)).Inc()
	}
	if (result == "sent" || result == "delivered") && msg != nil && !msg.ArrivedHere().IsZero() {
		typ := queue.DeliveryType(r.Queue)
		if r.Queue == "" {
			typ = queue.QueueSubmission
		}
		m.ops.latency.WithLabelValues(typ).Observe(time.Since(msg.ArrivedHere()).Seconds()) // from its receipt, which no release moves
	}
}

// Known creates the series of the configured names at zero, so that a
// fresh server shows them: sessions, refusals (back pressure's and AUTH's too),
// messages and delayed acknowledgements per receive connector, and the dumpster and duplicate
// series per mailbox database.
func (m *Metrics) Known(connectors, databases []string) {
	for _, c := range connectors {
		m.sessions.WithLabelValues(c)
		m.received.WithLabelValues(c)
		m.receivedBytes.WithLabelValues(c)
		m.ackDelay.WithLabelValues(c)
		m.ackTimeouts.WithLabelValues(c)
		m.bpRefused.WithLabelValues(c)
		m.panics.WithLabelValues(c) // umbra_smtp_session_panics_total at zero, as the README lists it
		for _, r := range []string{"bad_credentials", "identity_mismatch", "locked_out"} {
			m.authFailures.WithLabelValues(c, r)
		}
		m.rejected.WithLabelValues(c, smtp.RejectMaxPerSource)
		for _, cmd := range []string{"MAIL", "RCPT", "DATA", "AUTH"} {
			for _, class := range []string{"2xx", "4xx", "5xx"} {
				m.commands.WithLabelValues(c, cmd, class)
			}
		}
		if m.ops != nil {
			for _, v := range []string{"TLS 1.2", "TLS 1.3"} {
				m.ops.tls.WithLabelValues(c, v)
			}
		}
	}
	for _, db := range databases {
		m.dumpKept.WithLabelValues(db)
		m.dumpKeptAgain.WithLabelValues(db)
		m.dumpResubmitted.WithLabelValues(db)
		m.duplicates.WithLabelValues(db)
		for _, r := range []string{"age", "size", "too_big", "unreadable"} {
			m.dumpEvicted.WithLabelValues(db, r)
		}
		if m.ops != nil {
			m.ops.destinations.WithLabelValues("mailbox:"+db, "delivered")
		}
	}
	for _, ev := range eventNames {
		m.events.WithLabelValues(ev, "")
	}
	m.known = databases
}

// SuspendedSource lists the suspended queues.
type SuspendedSource func() []string

// RegisterSuspended adds umbra_queues_suspended, the number of suspended
// queues (their names are the operator's, so only the count).
func RegisterSuspended(reg prometheus.Registerer, src SuspendedSource) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "umbra_queues_suspended",
		Help: "Queues an operator suspended (umbra queue list --suspended)."},
		func() float64 { return float64(len(src())) }))
}
