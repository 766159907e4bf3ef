package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"umbra/internal/queue"
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
	)
}
