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
	} {
		if got, err := parseSince(in, now); err != nil || !got.Equal(want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-2h", "yesterday", "1.5d", "d", "+1d", "2026-11-22"} {
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
