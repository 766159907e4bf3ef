package main

import (
	"testing"
	"time"

	"umbra/internal/queue"
)

// OPS-3 (sched24): queue destinations names a failing destination's
// failures in a row and its next try, a dead one's end, and never calls
// either idle.
func TestDestStateText(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		d    queue.DestinationInfo
		want string
	}{
		{queue.DestinationInfo{State: "failing", Failures: 3, NextTry: now.Add(90 * time.Second)}, "failing (3 in a row, next try in 1m30s)"},
		{queue.DestinationInfo{State: "failing", Failures: 3, NextTry: now.Add(90 * time.Second), Running: 3}, "failing (3 in a row)"},
		{queue.DestinationInfo{State: "failing", Failures: 1}, "failing (1 in a row)"},
		{queue.DestinationInfo{State: "failing", Failures: 2, NextTry: now.Add(-time.Second)}, "failing (2 in a row)"},
		{queue.DestinationInfo{State: "dead", Failures: 5, DeadUntil: now.Add(5 * time.Minute)}, "dead until 12:05:00"},
		{queue.DestinationInfo{State: "suspended", Failures: 2}, "suspended"},
		{queue.DestinationInfo{State: "idle"}, "idle"},
		// Its mail all moved away (a redirect, a removal): failing
		// still, with nothing to try (never idle, nor a next try).
		{queue.DestinationInfo{State: "failing", Failures: 3, NoMailLeft: true}, "failing (3 in a row; no mail left)"},
		{queue.DestinationInfo{State: "failing", Failures: 3, NoMailLeft: true, NextTry: now.Add(4 * time.Second)}, "failing (3 in a row; no mail left)"},
	} {
		if got := destStateText(c.d, now); got != c.want {
			t.Errorf("%+v: %q, want %q", c.d, got, c.want)
		}
	}
}
