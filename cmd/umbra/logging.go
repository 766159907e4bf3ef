package main

import (
	"io"
	"log/slog"
	"time"

	"umbra/internal/jsonsafe"
)

// escapingWriter writes JSON log records with every character a terminal
// would act on escaped (jsonsafe.Escape: C1 controls, bidi and
// zero-width characters from senders, recipients and replies), as the
// text log's quoting and the admin API do. slog writes one record per
// Write, and the escapes are JSON's: each line stays valid JSON with the
// same values.
type escapingWriter struct{ w io.Writer }

func (e escapingWriter) Write(p []byte) (int, error) {
	if _, err := e.w.Write(jsonsafe.Escape(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}

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
