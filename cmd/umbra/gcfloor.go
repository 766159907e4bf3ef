package main

import (
	"context"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// The garbage collector's pace. With Go's default (GOGC=100) a collection
// starts each time the heap doubles over what the last one kept alive. A
// relaying daemon keeps little alive (a few MiB: sessions, the scheduler's
// index) and allocates a lot per message, so it collected every few
// hundred messages: 10-15 % of its CPU at 3,000 messages/s.
//
// gcFloor lets the heap grow to at least gcHeapFloor before a collection
// while what is alive is small, and leaves the default pace once the live
// heap passes half of it (a large queue's index, many large header
// sections): resident memory grows by at most the floor, never by a
// multiple of a large live heap. An operator's GOGC or GOMEMLIMIT in the
// environment is their choice and is left alone.
const (
	gcHeapFloor   = 32 << 20
	gcMaxPercent  = 800
	gcFloorPeriod = time.Second
)

func gcFloor(ctx context.Context, gd *guard) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	current := 100
	adjust := func() {
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindUint64 {
			return
		}
		want := gcPercentFor(sample[0].Value.Uint64())
		if want != current {
			debug.SetGCPercent(want)
			current = want
		}
	}
	adjust()
	go gd.loop(ctx, "gc_floor", func() { // a panic: counted, and the floor kept (helperpanic.go)
		t := time.NewTicker(gcFloorPeriod)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				adjust()
			}
		}
	})
}

// gcPercentFor is the GOGC that puts the next collection at gcHeapFloor
// for a live heap of live bytes, in steps of 50 (so that small changes of
// the live heap do not reset the pace every second), between 100 and
// gcMaxPercent.
func gcPercentFor(live uint64) int {
	if live == 0 || live >= gcHeapFloor/2 {
		return 100
	}
	p := int(gcHeapFloor*100/live) - 100
	p -= p % 50
	return max(100, min(p, gcMaxPercent))
}
