package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"umbra/internal/panicline"
)

// A panic in a helper goroutine of the daemon's (a defect) — the
// metrics listener, the back-pressure check, the recipient callout's
// pruning and learning, the dumpster's and the holders' loops, outbound
// TLS's refresh, the pickup loop, the reload loop (SIGHUP), the start
// mark's retries, the rate counters' saving, the GC floor, the lookups
// of the topology's server host names — is recovered: counted in
// umbra_helper_panics_total{part} (part: a fixed name per goroutine),
// logged at ERROR as "helper goroutine panicked" with the part, the
// panic and its stack by panicline's rule (one line a minute), never a
// message body or a credential, and the daemon keeps serving. A loop
// (guard.loop) starts again after a pause (helperRestart), so that what
// it keeps up (back pressure, the dumpster, the holders' answers,
// pickup) does not stop for the rest of the run; it ends when its
// context does. A one-off helper ends with its panic, as with an error
// of its own (a server host name not resolved: the addresses it had).
// None of these goroutines holds a message the queue acknowledged: that
// is the queue's and delivery's, whose own rules apply (queue
// panics.go: where a lock may be held the daemon crashes on purpose).
type guard struct {
	log   *slog.Logger
	count *prometheus.CounterVec
	gate  panicline.Gate
}

// helperRestart is how long a loop that panicked waits before it runs
// again: a defect that panics at once every time costs a line a minute
// and a core's idle, not a spin.
var helperRestart = time.Second

// helperParts are the part labels of umbra_helper_panics_total: the
// daemon's helpers (serve.go, gcfloor.go, ratelimit.go, serverhosts.go),
// each exported at zero from the start, as the README lists them.
var helperParts = []string{"metrics", "backpressure", "callout_prune", "callout_learn", "dumpster", "outbound_tls",
	"holders", "owed_discards", "pickup", "reload", "stop_at_once", "gc_floor", "rate_save", "server_hosts", "space_reserve"}

// newGuard registers umbra_helper_panics_total on reg (nil: not
// registered, still counted) and logs to log (nil: counted only).
func newGuard(reg prometheus.Registerer, log *slog.Logger) *guard {
	g := &guard{log: log, count: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "umbra_helper_panics_total",
		Help: "Helper goroutines of the daemon that panicked (a defect), recovered: the daemon kept serving, a loop started again."},
		[]string{"part"})}
	for _, p := range helperParts {
		g.count.WithLabelValues(p) // exported at zero from the start (rt31c F7)
	}
	if reg != nil {
		reg.MustRegister(g.count)
	}
	return g
}

// recovered counts and logs the panic r of part.
func (g *guard) recovered(part string, r any, stack []byte) {
	if g == nil { // a command's, or before the daemon's metrics exist: stderr
		fmt.Fprintf(os.Stderr, "umbra: helper goroutine %s panicked (recovered): %v\n", part, r)
		return
	}
	g.count.WithLabelValues(part).Inc()
	if g.log == nil {
		return
	}
	if line, ok := g.gate.Attrs(time.Now(), r, stack); ok {
		g.log.Error("helper goroutine panicked", append([]any{"part", part}, line...)...)
	}
}

// run calls fn, recovering a panic of it (counted, logged); it reports
// whether fn panicked. A nil guard recovers too, uncounted.
func (g *guard) run(part string, fn func()) (panicked bool) {
	defer func() {
		if r := recover(); r != nil {
			g.recovered(part, r, debug.Stack())
			panicked = true
		}
	}()
	fn()
	return false
}

// loop runs fn until it returns without a panic or ctx ends; after a
// panic it runs fn again helperRestart later.
func (g *guard) loop(ctx context.Context, part string, fn func()) {
	for g.run(part, fn) && ctx.Err() == nil {
		t := time.NewTimer(helperRestart)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// goRun runs fn on a goroutine of its own under run.
func (g *guard) goRun(part string, fn func()) {
	go g.run(part, fn)
}
