package dumpster

import (
	"fmt"
	"math"
	"math/big"
	"regexp"
	"time"
)

// agoSyntax is a duration as ParseAgo reads it: Go's (90m, 1h30m,
// 1.5h) with the day as one more unit, in whole days (1d, 36500d;
// not 1.5d).
var agoSyntax = regexp.MustCompile(`^(?:[0-9]+d|(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:ns|us|µs|μs|ms|s|m|h))+$|^0$`)

var agoUnits = []struct {
	name string
	ns   int64
}{
	// Longer names first: "ms" before "m" and "s".
	{"ns", 1}, {"us", int64(time.Microsecond)}, {"µs", int64(time.Microsecond)}, {"μs", int64(time.Microsecond)},
	{"ms", int64(time.Millisecond)}, {"s", int64(time.Second)}, {"m", int64(time.Minute)}, {"h", int64(time.Hour)},
	{"d", int64(24 * time.Hour)},
}

var agoPart = regexp.MustCompile(`([0-9]*\.?[0-9]*)(ns|us|µs|μs|ms|s|m|h|d)`)

// ParseAgo reads how far back a window starts, for the CLI's --since
// and the admin API's since_ago alike (one rule): a duration in Go's
// syntax with the whole day as a unit too ("90m", "24h", "1d", "1d12h"),
// never negative. A duration longer than any time.Duration holds (292
// years: "106751d", "2562048h") is not refused: it is the longest one
// (math.MaxInt64), a window before 1970, which means every copy.
func ParseAgo(s string) (time.Duration, error) {
	if !agoSyntax.MatchString(s) {
		return 0, fmt.Errorf("%q: give a duration ago (90m, 2h, 1d)", s)
	}
	if s == "0" {
		return 0, nil
	}
	sum := new(big.Rat)
	for _, p := range agoPart.FindAllStringSubmatch(s, -1) {
		v, ok := new(big.Rat).SetString(p[1])
		if !ok {
			return 0, fmt.Errorf("%q: give a duration ago (90m, 2h, 1d)", s)
		}
		for _, u := range agoUnits {
			if u.name == p[2] {
				sum.Add(sum, v.Mul(v, new(big.Rat).SetInt64(u.ns)))
				break
			}
		}
	}
	if sum.Cmp(new(big.Rat).SetInt64(math.MaxInt64)) >= 0 {
		return time.Duration(math.MaxInt64), nil
	}
	n := new(big.Int).Quo(sum.Num(), sum.Denom()) // whole nanoseconds, as time.ParseDuration
	return time.Duration(n.Int64()), nil
}
