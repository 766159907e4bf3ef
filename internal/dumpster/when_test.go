package dumpster

import (
	"testing"
	"time"
)

// TestParseTimeRFC3339 checks the one reading of a window's time for the
// CLI and the admin API: RFC 3339 §5.6 as written, T and Z in either case
// (its NOTE), offsets of at most 23:59 (time-numoffset), and nothing
// time.Parse would take beyond it (an offset's minutes of 60 read as an
// hour).
func TestParseTimeRFC3339(t *testing.T) {
	base := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	good := map[string]time.Time{
		"2026-11-22T10:00:00Z":           base,
		"2026-11-22t10:00:00z":           base,
		"2026-11-22T10:00:00z":           base,
		"2026-11-22T11:30:00+01:30":      base,
		"2026-11-22T10:00:00.5Z":         base.Add(500 * time.Millisecond),
		"2026-11-22T10:00:00-00:00":      base,
		"2026-11-23T09:59:00+23:59":      base,
		"2026-11-22T10:00:00.000000001Z": base.Add(time.Nanosecond),
		"2026-11-21T10:01:00-23:59":      base,
	}
	for in, want := range good {
		got, err := ParseTime(in)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{
		"2026-11-22T10:00:00+24:00", "2026-11-22T10:00:00-24:00", "2026-11-22T10:00:00+00:60",
		"2026-11-22T10:00:00+1:00", "2026-11-22T10:00:00", "2026-11-22 10:00:00Z",
		"2026-11-22T24:00:00Z", "2026-11-22T10:00:00.Z", "2026-11-22T10:00:00ZZ",
		"", "90m", "2026-11-22", " 2026-11-22T10:00:00Z",
	} {
		if got, err := ParseTime(in); err == nil {
			t.Errorf("ParseTime(%q) = %v; want an error", in, got)
		}
	}
}

// The first instant of year 1 is the zero time, which the readers of a
// window take for a bound not given: ParseTime gives the instant before
// it, the same bound, so that --until 0001-01-01T00:00:00Z selects
// nothing rather than everything (OPS-3, OPS-4).
func TestParseTimeNeverTheZeroTime(t *testing.T) {
	for _, in := range []string{"0001-01-01T00:00:00Z", "0001-01-01t00:00:00.000z", "0001-01-01T01:00:00+01:00"} {
		got, err := ParseTime(in)
		if err != nil || got.IsZero() || !got.Before(time.Time{}) || got.Before(time.Time{}.Add(-time.Nanosecond)) {
			t.Errorf("ParseTime(%q) = %v, %v; want the instant before the zero time", in, got, err)
		}
	}
	if got, err := ParseTime("0001-01-01T00:00:00.000000001Z"); err != nil || !got.Equal(time.Time{}.Add(time.Nanosecond)) {
		t.Errorf("one nanosecond after the zero time: %v, %v", got, err)
	}
}
