package dumpster

import (
	"math"
	"testing"
	"time"
)

// One rule for how far back a window starts, the CLI's --since and the
// admin API's since_ago alike (fixh19 item 2): days are a unit, and a
// duration past 292 years is the longest one (every copy), however it
// is written.
func TestParseAgoOneRule(t *testing.T) {
	for s, want := range map[string]time.Duration{
		"90m": 90 * time.Minute, "24h": 24 * time.Hour, "1d": 24 * time.Hour, "1d12h": 36 * time.Hour,
		"1.5h": 90 * time.Minute, "36500d": 36500 * 24 * time.Hour, "0": 0, "0s": 0,
		"106751d": 106751 * 24 * time.Hour, "106752d": math.MaxInt64, "2562048h": math.MaxInt64, "9999999999h": math.MaxInt64, "99999999d": math.MaxInt64,
		"2562047h47m16.854775807s": math.MaxInt64, "2562047h": 2562047 * time.Hour,
	} {
		got, err := ParseAgo(s)
		if err != nil || got != want {
			t.Errorf("ParseAgo(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"", "-1h", "1", "d", "1x", "h1", "1d-1h", "1 d", "+1h", "1.5d", ".5d"} {
		if got, err := ParseAgo(s); err == nil {
			t.Errorf("ParseAgo(%q) = %v, want an error", s, got)
		}
	}
}
