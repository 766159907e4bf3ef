package main

import (
	"log/slog"
	"time"
)

// durationSeconds makes the JSON logs print a duration as seconds (a
// number, as Prometheus and most log pipelines expect) instead of
// slog's integer nanoseconds: "waited":1.5, not "waited":1500000000.
func durationSeconds(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.Float64(a.Key, a.Value.Duration().Seconds())
	}
	if a.Value.Kind() == slog.KindAny {
		if d, ok := a.Value.Any().(time.Duration); ok {
			return slog.Float64(a.Key, d.Seconds())
		}
	}
	return a
}
