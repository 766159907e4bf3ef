package config

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration written in YAML as "30s", "5m", "4h" or "2d".
// A day is always 24 hours: message expiry is a wall-clock promise, not a
// calendar one.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return FormatDuration(time.Duration(d)) }

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return lineError(n, "expected a duration such as 30s, 5m, 4h or 2d")
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return lineError(n, "%v", err)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// ParseDuration parses a non-negative duration. Besides what time.ParseDuration
// accepts it knows "d" (24 hours), alone or as the leading unit ("2d12h").
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	given := s // named whole in errors, never a fragment of it
	if s == "" {
		return 0, errors.New("empty duration")
	}
	if s == "0" {
		return 0, nil
	}
	if msg := leadingZeroIn(s); msg != "" {
		return 0, fmt.Errorf("duration %q: %s", s, msg)
	}
	invalid := func() error {
		return fmt.Errorf("invalid duration %q: write a number and one of the units s, m, h, d (e.g. 30s, 5m, 4h, 2d, 1d12h)", given)
	}
	// Longer than a time.Duration holds (about 292 years) is refused
	// as that, never wrapped into a negative or short one
	// ("65535d2562047h" was taken as -112 years) nor told to write a
	// number and a unit, which it did.
	tooLong := func() error {
		return fmt.Errorf("duration %q is longer than the longest duration umbra can hold (106751d, about 292 years)", given)
	}
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		n, err := strconv.ParseUint(s[:i], 10, 64)
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				return 0, tooLong()
			}
			return 0, invalid()
		}
		if n > uint64(math.MaxInt64/int64(24*time.Hour)) {
			return 0, tooLong()
		}
		days = time.Duration(n) * 24 * time.Hour
		s = s[i+1:]
		if s == "" {
			return days, nil
		}
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		if goDurationSyntax.MatchString(s) {
			// Well formed, so time.ParseDuration refused its size.
			return 0, tooLong()
		}
		return 0, invalid()
	}
	if v < 0 {
		return 0, fmt.Errorf("negative duration %q", given)
	}
	if v > math.MaxInt64-days {
		return 0, tooLong()
	}
	return days + v, nil
}

// goDurationSyntax is what time.ParseDuration reads, unsigned: a value
// that matches it and is still refused is too long.
var goDurationSyntax = regexp.MustCompile(`^(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:ns|us|µs|μs|ms|s|m|h))+$`)

// FormatDuration writes d the way ParseDuration reads it, using days for
// whole-day values.
func FormatDuration(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return d.String()
}

// Size is a byte count written in YAML as 1048576, "512KiB", "36MiB", "1GiB"
// (binary units) or "10MB" (decimal units).
type Size int64

// UnmarshalYAML implements yaml.Unmarshaler.
func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return lineError(n, "expected a size such as 36MiB")
	}
	v, err := ParseSize(n.Value)
	if err != nil {
		return lineError(n, "%v", err)
	}
	*s = Size(v)
	return nil
}

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
	{"B", 1},
}

// ParseSize parses a non-negative byte count with an optional unit.
func ParseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	given := s // quoted whole in errors, unit and all
	mult := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	if msg := leadingZeroText(s, false); msg != "" {
		return 0, fmt.Errorf("size %q: %s", given, msg)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("invalid size %q (%s)", given, sizeHint(s))
	}
	if n > (1<<62)/mult {
		return 0, fmt.Errorf("size %q is too large", given)
	}
	return n * mult, nil
}

// sizeHint says what a refused size should look like: the units spelled
// as umbra reads them, both kinds named (rt44 front F3: "36MB" is read
// as decimal, and "10mb" or "10M" were refused with binary examples
// only), and for a unit in another case or shortened the two it may
// have meant.
func sizeHint(rest string) string {
	const units = "a whole number of bytes, or one with a unit spelled exactly so: KiB, MiB, GiB (1024-based) or KB, MB, GB (1000-based), e.g. 36MiB, 512KiB, 10MB, 1048576"
	num := strings.TrimRight(rest, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
	unit := strings.TrimSpace(rest[len(num):])
	if strings.ContainsAny(num, ".,") {
		return "a size is " + units + "; no fraction: write 1536KiB for 1.5MiB"
	}
	switch strings.ToLower(unit) {
	case "k", "kb", "kib":
		return fmt.Sprintf("unit %q: write KiB (1,024 bytes) or KB (1,000 bytes); case matters", unit)
	case "m", "mb", "mib":
		return fmt.Sprintf("unit %q: write MiB (1,048,576 bytes) or MB (1,000,000 bytes); case matters", unit)
	case "g", "gb", "gib":
		return fmt.Sprintf("unit %q: write GiB (1,073,741,824 bytes) or GB (1,000,000,000 bytes); case matters", unit)
	}
	return "a size is " + units
}

func lineError(n *yaml.Node, format string, args ...any) error {
	return &posError{line: n.Line, msg: fmt.Sprintf(format, args...)}
}

// posError is a decoding error that knows its line in the YAML source.
type posError struct {
	line int
	msg  string
}

func (e *posError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.msg) }
