package queue

import (
	"testing"
	"time"
)

// rt19f F4: a probe is due when the server's latest failure (or probe)
// is every or more before now — the latest of all its keys. A server
// that refused a copy long ago (its copies key) and was found hung just
// now (its name and address, by the holder probe's pass) is not due:
// trying it in its place would make a waiting copy wait for it a second
// time.
func TestHealthProbeDueOnLatestFailureOfAllKeys(t *testing.T) {
	h := NewHealth()
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	h.Unresponsive(t0, "shadow copy refused: 452 4.3.1 full", "copies:hub-b")
	hung := t0.Add(5 * time.Minute)
	h.Unresponsive(hung, "shadow server probe: i/o timeout", "hub-b", "127.0.0.2:25")
	if h.Probe(hung.Add(time.Second), time.Minute, "hub-b", "127.0.0.2:25", "copies:hub-b") {
		t.Fatal("a probe is due a second after the server was found hung")
	}
	if !h.Probe(hung.Add(time.Minute), time.Minute, "hub-b", "127.0.0.2:25", "copies:hub-b") {
		t.Fatal("no probe due a minute after the latest failure")
	}
	if h.Probe(hung.Add(time.Minute+time.Second), time.Minute, "hub-b", "127.0.0.2:25", "copies:hub-b") {
		t.Fatal("a second probe within the interval")
	}
}
