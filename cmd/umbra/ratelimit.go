package main

import (
	"context"
	"log/slog"
	"time"

	"umbra/internal/queue"
	"umbra/internal/ratelimit"
)

// rateSaveInterval is how often the rate counters are saved: a crash
// loses at most this much of the counts, a clean stop nothing.
const rateSaveInterval = time.Minute

// persistRates restores the rate limit counters from the transport
// database, then saves them every rateSaveInterval; the returned stop
// ends that and saves them a last time (call it before the store
// closes). A snapshot that cannot be read is logged and ignored: the
// counters start empty, as they would without one.
func persistRates(store *queue.Store, rates *ratelimit.Counters, log *slog.Logger, gd *guard) (stop func()) {
	if b, err := store.RateCounters(); err != nil {
		log.Warn("rate counters not restored", "err", err)
	} else if n, err := rates.Restore(b); err != nil {
		log.Warn("rate counters not restored", "err", err)
	} else if n > 0 {
		log.Info("rate counters restored", "counters", n)
	}
	save := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := store.SaveRateCounters(ctx, rates.Snapshot()); err != nil {
			log.Warn("rate counters not saved", "err", err)
		}
	}
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(rateSaveInterval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				gd.run("rate_save", save) // a panic: counted, the next save tried at the next tick (helperpanic.go)
			case <-done:
				return
			}
		}
	}()
	return func() {
		close(done)
		<-finished
		save()
	}
}
