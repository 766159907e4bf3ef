package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// receiptMetrics count shadow copies on receipt (SR-17).
type receiptMetrics struct {
	results *prometheus.CounterVec
	added   *prometheus.HistogramVec
}

func newReceiptMetrics(reg prometheus.Registerer) *receiptMetrics {
	r := &receiptMetrics{
		results: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "umbra_shadow_receipt_total",
			Help: "Messages of connectors with shadow_on_receipt, by connector and result: copied (a shadow copy on another server before the 250), single (accepted held by this server only, no copy made: every shadow server tried refused the copy or its session — a connection refused or closed at accept, one that timed out, a push it answered without keeping the copy — or none could be tried; the 250 says no shadow copy), may_hold (accepted with its copy unconfirmed: a push got no reply once the copy was sent, and a copy may exist on that shadow server; made again, and that server owed its discard), left (the message left this server — delivered, relayed — before its copy gave up, the shadow server having answered the push: no copy needed), left_may_hold (it left before its copy was confirmed, the push unanswered after its data: the shadow server may hold a copy, and is owed its discard), left_unknown (whether it left before its copy gave up could not be read: the reply claims neither), rejected (451 4.4.0)."},
			[]string{"connector", "result"}),
		added: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "umbra_shadow_receipt_seconds",
			Help:    "Time the shadow copy on receipt added to the reply to DATA/BDAT, by connector.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, []string{"connector"}),
	}
	reg.MustRegister(r.results, r.added)
	return r
}

// ShadowOnReceipt implements smtp.ReceiptObserver. result is one of
// copied, single, may_hold, left, left_may_hold, left_unknown, rejected
// (a bounded set).
func (m *Metrics) ShadowOnReceipt(connector, result string, added time.Duration) {
	m.receipt.results.WithLabelValues(connector, result).Inc()
	m.receipt.added.WithLabelValues(connector).Observe(added.Seconds())
}

// RegisterSingleCopies registers the gauge of messages held by this
// server only (queue.Manager.SingleCopyCount: the single-copy marks):
// their shadow copy was lost, removed, refused or discarded, or they were
// taken over or entered the queue with none. The holders' pass (every
// shadow heartbeat timeout) copies them to a shadow server that takes
// the copy; until one does, they stay counted — not merely until a
// shadow server answers: one may answer and refuse the copy.
//
// A message whose copy may exist on a server its push got no
// confirmation from (no reply once the copy was sent, a push a stop cut
// short) is counted apart, by RegisterUnconfirmedCopies: its operator
// must not read it as held here only (receipt48 item 2).
func RegisterSingleCopies(reg prometheus.Registerer, count func() int) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "umbra_shadow_single_copy_messages",
		Help: "Messages held by this server only (umbra shadow single): their shadow copy was lost with its server's database, removed or set aside damaged there, missing there after its database file was rolled back, " +
			"refused or not made at receipt, or discarded by the operator's hold or the quarantine they were released from; or they were taken over, " +
			"or entered the queue with none (a DSN or report written here, a pickup file, a dumpster redelivery). Each pass of the shadow-server probe " +
			"(every shadow_heartbeat_timeout) copies them to a shadow server that takes the copy; they stay counted while none does. " +
			"Mail never copied (no shadow on receipt, waiting for its first relay) is not counted, nor is a message whose copy may exist on a server its push got no confirmation from (umbra_shadow_unconfirmed_copy_messages)."},
		func() float64 { return float64(count()) }))
}

// RegisterUnconfirmedCopies registers the gauge of messages whose shadow
// copy is unconfirmed (queue.Manager.UnconfirmedCopyCount): a push got no
// reply once the copy may have reached its server, or a stop cut it
// short, so a copy may exist there; made again on a server that answers,
// each such server owed its discard.
func RegisterUnconfirmedCopies(reg prometheus.Registerer, count func() int) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "umbra_shadow_unconfirmed_copy_messages",
		Help: "Messages whose shadow copy is unconfirmed (umbra shadow single, its unconfirmed section): a push of the copy got no reply once the copy may have reached the server, or a stop cut it short, " +
			"so a copy may exist there; not counted in umbra_shadow_single_copy_messages. The copy is made again on a shadow server that answers, and each such server gets its discard."},
		func() float64 { return float64(count()) }))
}

// RegisterDamagedPeers registers the gauge of stored primary records
// that do not decode (queue.Manager.DamagedPeerCount): left out, each
// logged once; the other primaries are watched as before.
func RegisterDamagedPeers(reg prometheus.Registerer, count func() int) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "umbra_shadow_damaged_peer_records",
		Help: "Stored records of shadow primaries that do not decode: left out (each logged once); the other primaries are watched as before."},
		func() float64 { return float64(count()) }))
}

// RegisterRetiredDatabaseIDs registers the gauge of retired transport
// database ids kept here (queue.Manager.RetiredDatabaseIDCount): ids a
// server presented before its current one, still refused when another
// server presents them; at most queue.RetiredDatabaseIDsKept per server,
// the oldest forgotten beyond (logged at WARN). count's error reads as 0
// for this scrape.
func RegisterRetiredDatabaseIDs(reg prometheus.Registerer, count func() (int, error)) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "umbra_shadow_retired_database_ids",
		Help: "Retired transport database ids kept here (a server's ids before its current one, still refused when another server presents them); at most 32 per server, the oldest forgotten beyond, logged at WARN."},
		func() float64 { n, _ := count(); return float64(n) }))
}

// RegisterDamagedRequests registers the gauge of stored redelivery
// requests whose record does not decode (dumpster.Dumpster.
// DamagedRequestCount): set aside, never resumed; the others are not
// held up by them.
func RegisterDamagedRequests(reg prometheus.Registerer, count func() int) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "umbra_dumpster_damaged_requests",
		Help: "Stored dumpster redelivery requests whose record does not decode: set aside, not resumed (logged at each start)."},
		func() float64 { return float64(count()) }))
}

// RegisterExpiredKept registers the gauge of shadow copies past their
// expiry that the last expiry pass kept, not taken over, because their
// primary answers and refuses this server with the database they were
// made against (queue.Manager.ExpiredKeptCopies): they wait on that
// refusal, which is the operator's to lift.
func RegisterExpiredKept(reg prometheus.Registerer, count func() int) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "umbra_shadow_expired_kept_copies",
		Help: "Shadow copies past their expiry the last expiry pass kept, not taken over: their primary answers and refuses this server with the database they were made against (it owns their expiry)."},
		func() float64 { return float64(count()) }))
}

// RegisterRollbacks registers the counter of primaries found rolled back
// (queue.Manager.RolledBack): a primary presented a lower rollback mark
// than seen before for the same database id (an older copy of its
// database put back), and its shadow copies were taken over.
func RegisterRollbacks(reg prometheus.Registerer, count func() uint64) {
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "umbra_shadow_primary_rollbacks_total",
		Help: "Primaries found rolled back (an older copy of the same transport database put back: a lower rollback mark); their shadow copies were taken over."},
		func() float64 { return float64(count()) }))
}

// RegisterStaleEarlyDiscards registers the counter of copies on receipt
// kept over a discard kept aside that this server judged stale
// (queue.Manager.StaleEarlyDiscards): a copy pushed with a higher mark
// than the discard's, or by another database of its primary, taken for
// a new copy. Each is logged and its "shadow" event says so; should the
// judgement be wrong, the copy is one no discard settles.
func RegisterStaleEarlyDiscards(reg prometheus.Registerer, count func() uint64) {
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "umbra_shadow_stale_early_discards_total",
		Help: "Shadow copies on receipt kept over a discard that came before them and was judged stale (the copy's rollback mark above the discard's, or another database of the primary): each is logged (shadow copy kept over an earlier discard judged stale) and its shadow event says so."},
		func() float64 { return float64(count()) }))
}
