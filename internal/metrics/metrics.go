package metrics

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"umbra/internal/queue"
	"umbra/internal/smtp"
)

// Metrics holds every collector.
type Metrics struct {
	sessions      *prometheus.CounterVec
	rejected      *prometheus.CounterVec
	received      *prometheus.CounterVec
	receivedBytes *prometheus.CounterVec
	events        *prometheus.CounterVec
	commands      *prometheus.CounterVec
	commitSeconds prometheus.Histogram
	commitBatch   prometheus.Histogram
	commitErrors  prometheus.Counter
	heartbeats    *prometheus.CounterVec
	refused       *prometheus.CounterVec
	takeovers     prometheus.Counter
	resubmitted   prometheus.Counter
	discardsIn    prometheus.Counter
	discardsOut   prometheus.Counter
	discardsGiven prometheus.Counter
	ackDelay      *prometheus.HistogramVec
	ackTimeouts   *prometheus.CounterVec
	receipt       *receiptMetrics // shadow on receipt (receipt.go)

	dumpKept        *prometheus.CounterVec
	dumpKeptAgain   *prometheus.CounterVec
	dumpEvicted     *prometheus.CounterVec
	dumpResubmitted *prometheus.CounterVec
	duplicates      *prometheus.CounterVec

	authFailures *prometheus.CounterVec
	bpRefused    *prometheus.CounterVec
	panics       *prometheus.CounterVec
	outPanics    *prometheus.CounterVec
	queuePanics  *prometheus.CounterVec
	anotherDB    *prometheus.CounterVec
	shadowAddr   *prometheus.CounterVec

	ops   *Ops     // RegisterOps (ops.go)
	known []string // Known: the configured mailbox databases
}

// New creates the collectors and registers them on reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		sessions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "umbra_smtp_sessions_total",
			Help: "SMTP sessions opened, by receive connector."}, []string{"connector"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "umbra_smtp_connections_rejected_total",
			Help: "Connections refused before the greeting, and sessions ended by a limit, by reason: " + strings.Join(smtp.RejectReasons, ", ") + "."}, []string{"connector", "reason"}),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "umbra_smtp_messages_received_total",
			Help: "Messages accepted and made durable, by receive connector."}, []string{"connector"}),
		receivedBytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "umbra_smtp_received_bytes_total",
			Help: "Bytes of accepted messages, by receive connector."}, []string{"connector"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "umbra_queue_events_total",
			Help: "Message events (receive, send, deliver, defer, fail, dsn, bounce-lost: a DSN of this server that could not be delivered, poison, remove, results-pending: an attempt's results whose commit failed, kept and retried without a new attempt; repeat: a message attempted again because the results of an attempt were lost), per recipient where one is involved, by queue type."},
			[]string{"event", "queue_type"}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "umbra_smtp_commands_total",
			Help: "Final replies sent, by connector, the command they answer (its verb; other: a verb umbra does not know; none: the greeting and a 421 that ends a session between commands) and reply class."},
			[]string{"connector", "command", "class"}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "umbra_queue_commit_duration_seconds",
			Help:    "Latency of transport database commits (write and fsync).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		commitBatch: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "umbra_queue_commit_batch_size",
			Help: "Writers folded into one transport database commit.", Buckets: prometheus.ExponentialBuckets(1, 2, 10)}),
		commitErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "umbra_queue_commit_errors_total",
			Help: "Transport database commits failed by trouble (disk, bbolt, a corrupt record); refused actions are not counted."}),
		heartbeats: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "umbra_shadow_heartbeats_total",
			Help: "Heartbeat sessions to primaries, by result (ok, failed; a heartbeat the primary refused is neither: umbra_shadow_refused_sessions_total)."}, []string{"result"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "umbra_shadow_refused_sessions_total",
			Help: "Shadow sessions a primary or next hop answered with a refusal (a 5xx, or a reply refusing this server's login: 535, a lockout's 454; never a 421), by session: heartbeat, watch, reconcile, relay (a relay that went on without a shadow copy), receipt (a shadow server refused this server's session for copies on receipt), probe (a shadow server refused this server's probe of the copies it keeps), contact (this server refused a primary's session: it presented a transport database id kept here as another server's), holder (this server made no copy on receipt on a shadow server that presented a transport database id kept here as another server's and stated a name of its own, not that server's, or that server's name while the topology lists it at another address: a copied data dir; or that stated a name that is no transport server of the topology, whose sessions are refused here), topology (this server refused a shadow session stating a server its topology does not name, or no longer names, and of which nothing is held here: copies, takeovers, notes owed). A refusal by something at a primary's address that does not present its database digest is counted as a failed heartbeat instead."}, []string{"session"}),
		takeovers: prometheus.NewCounter(prometheus.CounterOpts{Name: "umbra_shadow_takeovers_total",
			Help: "Primaries whose shadow copies were taken over (failed heartbeats or a new database)."}),
		resubmitted: prometheus.NewCounter(prometheus.CounterOpts{Name: "umbra_shadow_resubmitted_messages_total",
			Help: "Shadow copies resubmitted to routing by takeovers."}),
		discardsIn: prometheus.NewCounter(prometheus.CounterOpts{Name: "umbra_shadow_discards_received_total",
			Help: "Shadow copies (or recipients of one) that primaries' discard notifications discarded here, each once, fetched by discard queries or pushed by the primary at its stop: a notification a primary repeats (no session of this server acknowledged it yet) is not counted again."}),
		discardsOut: prometheus.NewCounter(prometheus.CounterOpts{Name: "umbra_shadow_discards_sent_total",
			Help: "Discard notifications (full, partial, delay notes) shadow servers acknowledged, each once, however often it was handed (umbra_shadow_discard_ids_handed_total)."}),
		discardsGiven: prometheus.NewCounter(prometheus.CounterOpts{Name: "umbra_shadow_discard_ids_handed_total",
			Help: "Ids handed to shadow servers in XQUERYDISCARD replies, repeats included: a notification is handed again to every session that asks until one acknowledges it (concurrent sessions of one shadow server each get it)."}),
		ackDelay: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "umbra_shadow_delayed_ack_seconds",
			Help:    "How long a non-shadow sender waited for its final reply (delayed acknowledgement), by connector.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}, []string{"connector"}),
		ackTimeouts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "umbra_shadow_delayed_ack_timeouts_total",
			Help: "Final replies given after max_acknowledgement_delay without the next hops' confirmation, by connector."},
			[]string{"connector"}),
		dumpKept: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "umbra_dumpster_kept_total",
			Help: "New copies put into the transport dumpster (a first final delivery of the message into the database), by mailbox database."}, []string{"database"}),
		dumpKeptAgain: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "umbra_dumpster_kept_again_total",
			Help: "Copies of dumpster redelivery copies put into the transport dumpster (delivered again, or kept back after failing), each in place of the copy its request took out (umbra_dumpster_resubmitted_total), by mailbox database."}, []string{"database"}),
		dumpEvicted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "umbra_dumpster_evictions_total",
			Help: "Dumpster copies dropped, by mailbox database and reason (age, size, too_big: never kept, removed: by the operator, unreadable: found so by a redelivery request)."},
			[]string{"database", "reason"}),
		dumpResubmitted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "umbra_dumpster_resubmitted_total",
			Help: "Dumpster copies put back in the queue by redelivery requests, by mailbox database."}, []string{"database"}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "umbra_delivery_duplicates_suppressed_total",
			Help: "Final deliveries not made because the message had reached that mailbox database before (SR-11)."},
			[]string{"database"}),
	}
	reg.MustRegister(m.dumpKept, m.dumpKeptAgain, m.dumpEvicted, m.dumpResubmitted, m.duplicates)
	m.authFailures = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "umbra_smtp_auth_failures_total",
		Help: "Refused AUTH attempts, by connector and reason (bad_credentials, identity_mismatch, locked_out)."},
		[]string{"connector", "reason"})
	m.bpRefused = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "umbra_smtp_back_pressure_refused_total",
		Help: "MAIL commands answered 452 4.3.1 by back pressure, by connector (refused commands inside a session, not refused connections)."},
		[]string{"connector"})
	m.anotherDB = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "umbra_smtp_shadow_database_refused_total",
		Help: "Shadow sessions (XSHADOW) and copies on receipt this server refused because the transport server presented a transport database id kept here as another server's (a copy of another's data dir), by that server: its name when the topology names it as a transport server, else other."},
		[]string{"server"})
	m.panics = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "umbra_smtp_session_panics_total",
		Help: "Receive sessions that panicked (recovered: the client got 421 4.0.0 and the session ended; logged at most once a minute), by connector."},
		[]string{"connector"})
	m.shadowAddr = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "umbra_smtp_shadow_address_refused_total",
		Help: "Shadow sessions (XSHADOW) this server refused because the connection came from an address the topology does not give the stated server (a copy of that server with its configuration?), by that server: its name when the topology names it as a transport server, else other."},
		[]string{"server"})
	reg.MustRegister(m.authFailures, m.bpRefused, m.anotherDB, m.shadowAddr, m.panics)
	m.outPanics = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "umbra_delivery_panics_total",
		Help: "Outbound work that panicked (recovered: a delivery's recipients deferred and tried again, a heartbeat, watch, reconcile, callout or push ended as a broken session; logged at most once a minute), by part (delivery, shadow, verify, push)."},
		[]string{"part"})
	for _, p := range DeliveryPanicParts {
		m.outPanics.WithLabelValues(p)
	}
	reg.MustRegister(m.outPanics)
	m.queuePanics = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "umbra_queue_panics_total",
		Help: "Goroutines of the queue manager that panicked (recovered: the scheduler's loop run again, an attempt's message stranded as a crashed one, a job or a dead destination's answer ended with its recipients pending, a task ended as a local fault, a notice left to the attempt's end, an expiry's cut not made, a stall's round ended; logged at most once a minute), by part (loop, attempt, job, dead, task, notice, expiry, stall)."},
		[]string{"part"})
	for _, p := range QueuePanicParts {
		m.queuePanics.WithLabelValues(p)
	}
	reg.MustRegister(m.queuePanics)
	m.receipt = newReceiptMetrics(reg)
	reg.MustRegister(m.sessions, m.rejected, m.received, m.receivedBytes, m.events, m.commands,
		m.commitSeconds, m.commitBatch, m.commitErrors, m.heartbeats, m.refused, m.takeovers, m.resubmitted, m.discardsIn, m.discardsOut, m.discardsGiven, m.ackDelay, m.ackTimeouts)
	m.heartbeats.WithLabelValues("ok")
	m.heartbeats.WithLabelValues("failed")
	for _, s := range ShadowSessions {
		m.refused.WithLabelValues(s)
	}
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
func (m *Metrics) Event(name string, msg *queue.Message, r *queue.Recipient, _ string) {
	typ := ""
	if r != nil {
		typ = queue.DeliveryType(r.Queue)
		if r.Queue == "" {
			typ = queue.QueueSubmission
		}
	} else if msg != nil && (name == "quarantine" || name == "release" || msg.State == queue.Quarantined) {
		typ = queue.QueueQuarantine // a message held, released or removed as a whole
	} else if msg != nil && (name == "poison" || msg.State == queue.Poison) {
		typ = queue.QueuePoison // moved to the poison queue, or removed from it, as a whole
	}
	m.events.WithLabelValues(name, typ).Inc()
	m.observeDelivery(name, msg, r)
	if name == "duplicate-suppressed" && r != nil {
		m.duplicates.WithLabelValues(strings.TrimPrefix(r.Queue, "mailbox:")).Inc()
	}
}

// Heartbeat implements shadow.Observer.
func (m *Metrics) Heartbeat(ok bool) {
	if ok {
		m.heartbeats.WithLabelValues("ok").Inc()
	} else {
		m.heartbeats.WithLabelValues("failed").Inc()
	}
}

// ShadowSessions are the kinds of shadow sessions a refusal is counted
// for (shadow.Sessions; the relay's is package delivery's).
var ShadowSessions = []string{"heartbeat", "watch", "reconcile", "relay", "probe", "contact", "holder", "topology"}

// Refused implements shadow.Observer: a session a primary refused.
func (m *Metrics) Refused(session string) { m.refused.WithLabelValues(session).Inc() }

// DiscardsReceived implements shadow.Observer.
func (m *Metrics) DiscardsReceived(n int) { m.discardsIn.Add(float64(n)) }

// Takeover implements shadow.Observer.
func (m *Metrics) Takeover(messages int) {
	m.takeovers.Inc()
	m.resubmitted.Add(float64(messages))
}

// DiscardsSent counts discard notifications a shadow server
// acknowledged (queue.ManagerConfig.DiscardsSent).
func (m *Metrics) DiscardsSent(n int) { m.discardsOut.Add(float64(n)) }

// DiscardsHanded implements smtp.Observer: the ids of one XQUERYDISCARD
// reply, repeats included.
func (m *Metrics) DiscardsHanded(n int) { m.discardsGiven.Add(float64(n)) }

// DelayedAck implements smtp.Observer.
func (m *Metrics) DelayedAck(connector string, wait time.Duration, confirmed bool) {
	m.ackDelay.WithLabelValues(connector).Observe(wait.Seconds())
	if !confirmed {
		m.ackTimeouts.WithLabelValues(connector).Inc()
	}
}

// Command implements smtp.Observer.
func (m *Metrics) Command(connector, command string, code int) {
	m.commands.WithLabelValues(connector, command, strconv.Itoa(code/100)+"xx").Inc()
}

// DumpsterKept implements dumpster.Observer.
func (m *Metrics) DumpsterKept(db string, bytes int64, again bool) {
	if again {
		m.dumpKeptAgain.WithLabelValues(db).Inc()
		return
	}
	m.dumpKept.WithLabelValues(db).Inc()
}

// DumpsterEvicted implements dumpster.Observer.
func (m *Metrics) DumpsterEvicted(db, reason string, n int) {
	m.dumpEvicted.WithLabelValues(db, reason).Add(float64(n))
}

// DumpsterResubmitted implements dumpster.Observer.
func (m *Metrics) DumpsterResubmitted(db string, n int) {
	m.dumpResubmitted.WithLabelValues(db).Add(float64(n))
}

// DumpsterSource reads every database's dumpster totals.
type DumpsterSource func() (map[string]queue.DumpsterStat, error)

type dumpsterCollector struct {
	src             DumpsterSource
	messages, bytes *prometheus.Desc
	known           []string // databases shown at zero before their first copy
}

// RegisterDumpster adds the per-database dumpster gauges, read from the
// running totals at each scrape. Databases are the organisation's: a
// bounded label.
func RegisterDumpster(reg prometheus.Registerer, src DumpsterSource, known ...string) {
	reg.MustRegister(&dumpsterCollector{src: src, known: known,
		messages: prometheus.NewDesc("umbra_dumpster_messages", "Copies kept in the transport dumpster, by mailbox database.",
			[]string{"database"}, nil),
		bytes: prometheus.NewDesc("umbra_dumpster_bytes", "Bytes kept in the transport dumpster, by mailbox database.",
			[]string{"database"}, nil),
	})
}

func (c *dumpsterCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.messages
	ch <- c.bytes
}

func (c *dumpsterCollector) Collect(ch chan<- prometheus.Metric) {
	st, err := c.src()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.messages, err)
		return
	}
	for _, db := range c.known {
		if _, ok := st[db]; !ok {
			ch <- prometheus.MustNewConstMetric(c.messages, prometheus.GaugeValue, 0, db)
			ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.GaugeValue, 0, db)
		}
	}
	for db, s := range st {
		ch <- prometheus.MustNewConstMetric(c.messages, prometheus.GaugeValue, float64(s.Messages), db)
		ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.GaugeValue, float64(s.Bytes), db)
	}
}

// QueueSource reads the per-queue summary (queue.Store.View and
// Tx.Queues, which read the index only).
type QueueSource func() ([]queue.QueueStats, error)

// queueCollector reports queue lengths and the oldest message's age per
// queue type and state at scrape time.
type queueCollector struct {
	src       QueueSource
	suspended func() []string // may be nil
	length    *prometheus.Desc
	oldest    *prometheus.Desc
}

// RegisterQueues adds the queue gauges, computed at each scrape.
// suspended (nil: none) names the queues the operator suspended: their
// waiting messages are counted "held", as queue list counts them and
// each message shows (queue.StateView).
func RegisterQueues(reg prometheus.Registerer, src QueueSource, suspended func() []string) {
	reg.MustRegister(&queueCollector{src: src, suspended: suspended,
		length: prometheus.NewDesc("umbra_queue_messages", "Messages in the queues, by queue type and state (ready, retry: waiting for a retry after a deferral, held: waiting in a suspended queue, active: in its attempt, a job of it running there, waiting: in its attempt, its jobs there waiting for a slot of the destination, suspended: the message itself, poison, shadow, quarantined, damaged: a record that does not decode, set aside in the queue type damaged; a message waiting in two queues counts in both).",
			[]string{"queue_type", "state"}, nil),
		oldest: prometheus.NewDesc("umbra_queue_oldest_message_age_seconds", "Age of the oldest message in the queues of a type, not counting a message suspended by itself (0: none).",
			[]string{"queue_type"}, nil),
	})
}

// queueStates are the states the queue gauges always report: the
// operator's vocabulary, as message list and queue list use it — a
// message in its attempt "active" in a queue where a job of it runs,
// "waiting" where its jobs only wait for a slot of the destination
// (queue.QueueStats.Waiting, from the scheduler's jobs), as queue list's
// by_state counts it (rt31d F3: the gauge said 4 active where the list
// said 1 active, 3 waiting).
var queueStates = slices.Clone(queue.MessageStates)

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.length
	ch <- c.oldest
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	qs, err := c.src()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.length, err)
		return
	}
	held := map[string]bool{}
	if c.suspended != nil {
		for _, name := range c.suspended() {
			held[name] = true
		}
	}
	type key struct{ typ, state string }
	counts := map[key]int{}
	oldest := map[string]queue.ID{}
	for _, typ := range queueTypes {
		for _, st := range queueStates {
			counts[key{typ, st}] = 0
		}
	}
	for _, q := range qs {
		typ := queue.DeliveryType(q.Name)
		for st, n := range q.ByState {
			counts[key{typ, st.String()}] += n
		}
		// A ready message waiting for its retry is "retry", as the CLI
		// and the console show it (queue.MessageStates); one waiting
		// in a suspended queue is "held", retry or not (queue list).
		counts[key{typ, "ready"}] -= q.Retry
		counts[key{typ, "retry"}] += q.Retry
		counts[key{typ, "active"}] -= q.Waiting
		counts[key{typ, "waiting"}] += q.Waiting
		if held[q.Name] {
			counts[key{typ, "held"}] += q.ByState[queue.Ready]
			counts[key{typ, "ready"}] -= q.ByState[queue.Ready] - q.Retry
			counts[key{typ, "retry"}] -= q.Retry
		}
		// A message suspended by itself waits for the operator, not for
		// delivery: not the oldest here (UmbraOldMessages).
		if w := q.OldestWaiting; w != 0 {
			if o, ok := oldest[typ]; !ok || w < o {
				oldest[typ] = w
			}
		}
	}
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.length, prometheus.GaugeValue, float64(n), k.typ, k.state)
	}
	now := time.Now()
	for typ, id := range oldest {
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, id.Age(now).Seconds(), typ)
	}
	// An empty queue type's oldest message is 0 s old: the series stays
	// when the queues are idle.
	for _, typ := range queueTypes {
		if _, ok := oldest[typ]; !ok {
			ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, 0, typ)
		}
	}
}

// Session implements smtp.Observer.
func (m *Metrics) Session(connector string) { m.sessions.WithLabelValues(connector).Inc() }

// Rejected implements smtp.Observer.
func (m *Metrics) Rejected(connector, why string) { m.rejected.WithLabelValues(connector, why).Inc() }

// AuthFailure implements smtp.PolicyObserver. reason is one of a fixed
// set chosen by the smtp package, never client input.
func (m *Metrics) AuthFailure(connector, reason string) {
	m.authFailures.WithLabelValues(connector, reason).Inc()
}

// BackPressureRefused implements smtp.PressureObserver.
func (m *Metrics) BackPressureRefused(connector string) {
	m.bpRefused.WithLabelValues(connector).Inc()
}

// DeliveryPanicParts are the part labels of umbra_delivery_panics_total
// (delivery.PanicParts), exported at zero from the start.
var DeliveryPanicParts = []string{"delivery", "shadow", "verify", "push"}

// QueuePanicParts are the part labels of umbra_queue_panics_total
// (queue.PanicParts), exported at zero from the start.
var QueuePanicParts = []string{"loop", "attempt", "job", "dead", "task", "notice", "expiry", "stall", "admin"}

// QueuePanic implements queue.PanicObserver.
func (m *Metrics) QueuePanic(part string) {
	m.queuePanics.WithLabelValues(part).Inc()
}

// DeliveryPanic implements delivery.PanicObserver.
func (m *Metrics) DeliveryPanic(part string) {
	m.outPanics.WithLabelValues(part).Inc()
}

// SessionPanic implements smtp.PanicObserver.
func (m *Metrics) SessionPanic(connector string) {
	m.panics.WithLabelValues(connector).Inc()
}

// AnotherDatabaseRefused implements smtp.DatabaseRefusalObserver. server
// is a transport server of the topology or "other" (a bounded set).
func (m *Metrics) AnotherDatabaseRefused(server string) {
	m.anotherDB.WithLabelValues(server).Inc()
}

// ShadowTopologyRefused implements smtp.ShadowTopologyObserver.
func (m *Metrics) ShadowTopologyRefused() { m.refused.WithLabelValues("topology").Inc() }

// ShadowAddressRefused implements smtp.ShadowAddressObserver. server is
// a transport server of the topology or "other" (a bounded set).
func (m *Metrics) ShadowAddressRefused(server string) {
	m.shadowAddr.WithLabelValues(server).Inc()
}

// Received implements smtp.Observer.
func (m *Metrics) Received(connector string, size int) {
	m.received.WithLabelValues(connector).Inc()
	m.receivedBytes.WithLabelValues(connector).Add(float64(size))
}

// SchedulerSource reads the scheduler's destinations
// (queue.Manager.Destinations).
type SchedulerSource func() []queue.DestinationInfo

type schedulerCollector struct {
	src                          SchedulerSource
	dests, running, waiting, win *prometheus.Desc
}

// RegisterScheduler adds the scheduler's gauges, computed at each scrape:
// destinations by state, attempts running and waiting for a window, and
// the window of each destination the configuration names (send
// connectors' smart hosts, sites, mailbox databases, legacy servers:
// bounded). MX destinations are one per recipient domain — unbounded —
// so they count in the totals only; `umbra queue destinations` lists
// each.
func RegisterScheduler(reg prometheus.Registerer, src SchedulerSource) {
	reg.MustRegister(&schedulerCollector{src: src,
		dests: prometheus.NewDesc("umbra_scheduler_destinations", "Destinations the scheduler knows, by state (active, idle, failing, failing_no_mail, dead, suspended; unresponsive servers).",
			[]string{"state"}, nil),
		running: prometheus.NewDesc("umbra_scheduler_attempts_running", "Delivery attempts running, over all destinations.", nil, nil),
		waiting: prometheus.NewDesc("umbra_scheduler_attempts_waiting", "Delivery attempts waiting for their destination's window.", nil, nil),
		win: prometheus.NewDesc("umbra_scheduler_window", "Concurrency window of a destination named by the configuration (not MX domains).",
			[]string{"queue"}, nil),
	})
}

func (c *schedulerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.dests
	ch <- c.running
	ch <- c.waiting
	ch <- c.win
}

func (c *schedulerCollector) Collect(ch chan<- prometheus.Metric) {
	states := map[string]int{"active": 0, "idle": 0, "failing": 0, "failing_no_mail": 0, "dead": 0, "suspended": 0, "unresponsive": 0}
	running, waiting := 0, 0
	windows := map[string]int{} // per queue: several destinations may show under one
	for _, d := range c.src() {
		if d.State == "failing" && d.NoMailLeft {
			// Failing with nothing to deliver (its mail redirected or
			// removed): a series of its own, so that an alert on
			// state="failing" is about mail that waits.
			states["failing_no_mail"]++
		} else {
			states[d.State]++
		}
		running += d.Running
		waiting += d.Waiting
		if d.Max > 0 && d.Queue != "" && queue.DeliveryType(d.Queue) != "smtp-mx" && queue.DeliveryType(d.Queue) != "smtp-redirect" {
			windows[d.Queue] += d.Window
		}
	}
	for q, w := range windows {
		ch <- prometheus.MustNewConstMetric(c.win, prometheus.GaugeValue, float64(w), q)
	}
	for s, n := range states {
		ch <- prometheus.MustNewConstMetric(c.dests, prometheus.GaugeValue, float64(n), s)
	}
	ch <- prometheus.MustNewConstMetric(c.running, prometheus.GaugeValue, float64(running))
	ch <- prometheus.MustNewConstMetric(c.waiting, prometheus.GaugeValue, float64(waiting))
}

// PrimaryState is one primary as shadow list shows it (admin.ShadowView):
// its state — healthy, unreachable, one-way, refused, taken-over — and its failed
// heartbeats counted towards the takeover.
type PrimaryState struct {
	Primary          string
	State            string
	FailedHeartbeats int
	// Copies are shadow list's COPIES: the copies this server keeps for
	// the primary, held (the primary still has them) and taken over
	// and not handed on yet, wherever they wait; TakenOverCopies are
	// its TAKEN OVER.
	Copies, TakenOverCopies int
}

// PrimaryStates lists the states a primary can be in (ShadowState).
var PrimaryStates = []string{"healthy", "unreachable", "one-way", "refused", "taken-over"}

// shadowStateCollector reports each primary's state at scrape time, from
// the same view as shadow list, the API and the console.
type shadowStateCollector struct {
	src       func() ([]PrimaryState, error)
	state     *prometheus.Desc
	failures  *prometheus.Desc
	copies    *prometheus.Desc
	takenOver *prometheus.Desc
}

// RegisterShadowStates adds umbra_shadow_primary_state{primary,state}
// (1 for the state the primary is in, 0 for the others) and
// umbra_shadow_primary_failed_heartbeats{primary}, and the copies kept
// for it as shadow list counts them: umbra_shadow_queue_messages{primary}
// (COPIES) and umbra_shadow_taken_over_messages{primary} (TAKEN OVER),
// computed at each scrape. Primaries are servers of the organisation: a
// bounded label.
func RegisterShadowStates(reg prometheus.Registerer, src func() ([]PrimaryState, error)) {
	reg.MustRegister(&shadowStateCollector{src: src,
		state: prometheus.NewDesc("umbra_shadow_primary_state",
			"State of each primary this server holds shadow copies for, as shadow list shows it: healthy, unreachable (heartbeats fail: no answer, a 421, or a refusal by something without the primary's database digest; taken over at the retry count; or its watch sessions fail before a heartbeat did), one-way (this server cannot reach it while its own sessions reach this server — a link failing one way —: no takeover while they go on), refused (the primary itself refuses this server's sessions: never taken over for it), taken-over.",
			[]string{"primary", "state"}, nil),
		failures: prometheus.NewDesc("umbra_shadow_primary_failed_heartbeats",
			"Consecutive failed heartbeats of each primary, counted towards the takeover (shadow_heartbeat_retry_count).",
			[]string{"primary"}, nil),
		copies: prometheus.NewDesc("umbra_shadow_queue_messages",
			"Shadow copies this server keeps for each primary, as shadow list's COPIES: held (the primary still has them) and taken over from it and not handed on yet, wherever they wait (its shadow queue, a route's queue, a redirect, poison).",
			[]string{"primary"}, nil),
		takenOver: prometheus.NewDesc("umbra_shadow_taken_over_messages",
			"Of umbra_shadow_queue_messages, the copies taken over from each primary and not handed on yet (shadow list's TAKEN OVER).",
			[]string{"primary"}, nil),
	})
}

func (c *shadowStateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.state
	ch <- c.failures
	ch <- c.copies
	ch <- c.takenOver
}

func (c *shadowStateCollector) Collect(ch chan<- prometheus.Metric) {
	ps, err := c.src()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.state, err)
		return
	}
	for _, p := range ps {
		for _, st := range PrimaryStates {
			v := 0.0
			if st == p.State {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(c.state, prometheus.GaugeValue, v, p.Primary, st)
		}
		ch <- prometheus.MustNewConstMetric(c.failures, prometheus.GaugeValue, float64(p.FailedHeartbeats), p.Primary)
		ch <- prometheus.MustNewConstMetric(c.copies, prometheus.GaugeValue, float64(p.Copies), p.Primary)
		ch <- prometheus.MustNewConstMetric(c.takenOver, prometheus.GaugeValue, float64(p.TakenOverCopies), p.Primary)
	}
}
