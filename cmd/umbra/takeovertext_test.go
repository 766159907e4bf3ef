package main

import (
	"strings"
	"testing"
	"time"
)

// rt24 F3: shadow list said "takeover due" for a whole command timeout
// while the last heartbeat to a hung primary was still open, and its
// forecast left that bound out. Before the last heartbeat starts it names
// both times; while it runs it says the takeover waits for it to fail.
func TestTakeoverTextNamesTheHangBound(t *testing.T) {
	at := time.Date(2026, 12, 1, 21, 48, 17, 0, time.UTC)
	by := at.Add(30 * time.Second)
	for _, c := range []struct {
		now  time.Time
		want []string
	}{
		{at.Add(-15 * time.Second), []string{"takeover in 15s (2026-12-01T21:48:17Z)", "by 2026-12-01T21:48:47Z if it hangs"}},
		{at.Add(10 * time.Second), []string{"takeover when the heartbeat started at 2026-12-01T21:48:17Z fails", "by 2026-12-01T21:48:47Z"}},
		{by.Add(time.Second), []string{"takeover due (2026-12-01T21:48:17Z)"}},
	} {
		got := takeoverText(at, by, c.now)
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("at %v: %q, want it to contain %q", c.now.Format(time.TimeOnly), got, w)
			}
		}
	}
	if got := takeoverText(time.Time{}, time.Time{}, at); got != "takeover time unknown" {
		t.Errorf("no time: %q", got)
	}
}
