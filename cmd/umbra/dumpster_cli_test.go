package main

import (
	"testing"
	"time"
)

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"2026-11-22T09:30:00Z": time.Date(2026, 11, 22, 9, 30, 0, 0, time.UTC),
		"90m":                  now.Add(-90 * time.Minute),
		"2h":                   now.Add(-2 * time.Hour),
		"1d":                   now.Add(-24 * time.Hour),
		"0s":                   now,
		"2026-11-22t09:30:00z": time.Date(2026, 11, 22, 9, 30, 0, 0, time.UTC),
	} {
		if got, err := parseSince(in, now); err != nil || !got.Equal(want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-2h", "yesterday", "1.5d", "d", "+1d", "2026-11-22", "2026-11-22T09:30:00+24:00", "2026-11-22T09:30:00+00:60"} {
		if _, err := parseSince(in, now); err == nil {
			t.Errorf("parseSince(%q) succeeded", in)
		}
	}
}

// --since never panics and a duration never lies in the future.
func FuzzParseSince(f *testing.F) {
	for _, s := range []string{"2h", "1d", "2026-11-22T09:30:00Z", "90m", "-1d"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseSince(s, now)
		if err == nil && got.After(now) && len(s) > 0 && s[len(s)-1] != 'Z' && !containsDigitColon(s) {
			t.Fatalf("%q gives %v, after now", s, got)
		}
	})
}

func containsDigitColon(s string) bool { // an RFC 3339 time may name any instant
	for i := 1; i < len(s); i++ {
		if s[i] == ':' && s[i-1] >= '0' && s[i-1] <= '9' {
			return true
		}
	}
	return false
}

// A duration longer than the largest time.Duration (about 292 years:
// "200000d") is a window starting before any copy, never one wrapped
// into the future; so are "36500d" and "2562047h" (fixe19 item 3).
func TestParseSinceFarBack(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	for _, in := range []string{"36500d", "2562047h", "106752d", "200000d", "9999999999d", "1900-01-01T00:00:00Z", "1650-06-01T00:00:00Z"} {
		got, err := parseSince(in, now)
		if err != nil || !got.Before(time.Unix(0, 0)) || got.IsZero() {
			t.Errorf("parseSince(%q) = %v, %v; want a time before 1970 (not the zero time: a flag not given)", in, got, err)
		}
		if _, ago, byAgo, err := parseWindow(in, now); err != nil || byAgo && ago <= 0 {
			t.Errorf("parseWindow(%q) = %v, %v", in, ago, err)
		}
	}
}
