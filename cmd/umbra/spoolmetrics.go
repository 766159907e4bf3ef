package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"umbra/internal/queue"
	"umbra/internal/smtp"
)

// registerSpoolMetrics exports the spool directory's use and the spool
// file removals that failed (queue/spoolstats.go). No labels.
func registerSpoolMetrics(reg prometheus.Registerer, store *queue.Store) {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "umbra_spool_files",
			Help: "Files in the spool directory (large message bodies; read from the directory at most every 30s)."},
			func() float64 { n, _ := store.SpoolUsage(); return float64(n) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "umbra_spool_bytes",
			Help: "Bytes of the files in the spool directory (read from the directory at most every 30s)."},
			func() float64 { _, b := store.SpoolUsage(); return float64(b) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "umbra_spool_unlink_failures_total",
			Help: "Failed removals of spool files no message names any more (retries included)."},
			func() float64 { return float64(store.SpoolUnlinkFailures()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "umbra_spool_unlink_pending",
			Help: "Spool files no message names whose removal failed, retried every minute and at the next start."},
			func() float64 { return float64(store.SpoolUnlinkPending()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "umbra_space_reserve_bytes",
			Help: "Bytes of the space reserve file in data_dir (0 while it is given up on a full disk, or none is kept)."},
			func() float64 {
				if held, size := store.SpaceReserveHeld(); held {
					return float64(size)
				}
				return 0
			}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "umbra_space_reserve_used_total",
			Help: "Times the space reserve was given up on a full disk for a commit that frees room or keeps mail (a takeover, delivery results, discards)."},
			func() float64 { return float64(store.SpaceReserveUsed()) }),
	)
}

// bodyMemory is smtp.Server's account of its in-memory body budget.
type bodyMemory interface {
	BodyMemory() (used, limit int64, spilled, refused uint64)
}

var _ bodyMemory = (*smtp.Server)(nil)

// registerBodyMemoryMetrics exports the receive side's in-memory body
// budget (transport.body_memory_limit; smtp/bodymem.go). No labels.
func registerBodyMemoryMetrics(reg prometheus.Registerer, srv bodyMemory) {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "umbra_smtp_body_memory_bytes",
			Help: "Bytes of received bodies held in memory across every receive session now (their buffers)."},
			func() float64 { u, _, _, _ := srv.BodyMemory(); return float64(u) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "umbra_smtp_body_memory_limit_bytes",
			Help: "transport.body_memory_limit: the most bytes of received bodies held in memory across every receive session."},
			func() float64 { _, l, _, _ := srv.BodyMemory(); return float64(l) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "umbra_smtp_body_memory_spooled_total",
			Help: "Received bodies written to a spool file before spool_threshold because transport.body_memory_limit was reached (accepted as usual)."},
			func() float64 { _, _, s, _ := srv.BodyMemory(); return float64(s) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "umbra_smtp_body_memory_refused_total",
			Help: "Received bodies answered 452 4.3.1 because transport.body_memory_limit was reached on a session that cannot spool."},
			func() float64 { _, _, _, r := srv.BodyMemory(); return float64(r) }),
	)
}
