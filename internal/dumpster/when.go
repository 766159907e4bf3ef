package dumpster

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// dateTime is RFC 3339 §5.6's date-time: full-date "T" full-time, where
// "T" and "Z" may be written in lower case (§5.6 NOTE) and an offset
// (time-numoffset) has hours 00–23 and minutes 00–59.
var dateTime = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$`)

// ParseTime reads a window's time as the CLI's --since/--until and the
// admin API's since/until take it, by one rule: an RFC 3339 date-time.
// time.Parse alone is not that rule: it refuses a lower-case "t" or "z"
// and takes offsets RFC 3339 does not have (+24:00, and +00:60 read as
// an hour). It never returns the zero time (a bound not given) for a
// time given.
func ParseTime(s string) (time.Time, error) {
	if !dateTime.MatchString(s) {
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time (2026-11-22T10:00:00Z, 2026-11-22T11:00:00+01:00)", s)
	}
	t, err := time.Parse(time.RFC3339Nano, strings.ToUpper(s))
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time: %v", s, err)
	}
	if t.IsZero() {
		// 0001-01-01T00:00:00Z is the zero time, which every reader of
		// a window (the CLI, the admin API, tracking, the dumpster)
		// takes for a bound not given: --until 0001-01-01T00:00:00Z
		// selected every copy and every event. The instant before it
		// is the same bound for a window (nothing is kept or logged in
		// that nanosecond) and is no flag.
		t = t.Add(-time.Nanosecond)
	}
	return t, nil
}
