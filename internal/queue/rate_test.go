package queue

import (
	"testing"
	"time"
)

// IN/MIN and OUT/MIN count the events of exactly the last 60 seconds: a
// message that just entered is counted at once (not after the calendar
// minute ends), and it leaves the count 60 s later.
func TestMinuteWindow(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 16, 0, 59, 0, time.UTC) // the last second of a minute
	var w minuteWindow
	w.add(t0)
	w.add(t0)
	if n := w.count(t0); n != 2 {
		t.Fatalf("just entered: %d, want 2", n)
	}
	w.add(t0.Add(30 * time.Second))
	for _, tc := range []struct {
		at   time.Duration
		want int
	}{{time.Second, 2}, {30 * time.Second, 3}, {59 * time.Second, 3}, {60 * time.Second, 1}, {89 * time.Second, 1}, {90 * time.Second, 0}, {time.Hour, 0}} {
		if n := w.count(t0.Add(tc.at)); n != tc.want {
			t.Errorf("after %v: %d, want %d", tc.at, n, tc.want)
		}
	}
	// A bucket reused a minute later counts afresh.
	w.add(t0.Add(120 * time.Second))
	if n := w.count(t0.Add(120 * time.Second)); n != 1 {
		t.Errorf("reused bucket: %d, want 1", n)
	}
}
