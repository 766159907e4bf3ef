package queue

import (
	"testing"
	"time"
)

// rr35 opsshadow: Health.Servers joins keys by every link ever made
// between them (with), transitively. A server marked at an address the
// topology gave to another server since (hub-b moved from A to B while
// down, A now hub-c's: neither key leaves the topology, so Forget keeps
// the old link) makes hub-c's marks part of hub-b's row: queue
// destinations shows one row, server:hub-b "at A, B", and hub-c, which
// failed its own heartbeat, is not listed at all.
func TestOPSHealthRowsKeepTwoServersApart(t *testing.T) {
	h := NewHealth()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h.Unresponsive(now, "heartbeat: connection refused", "hub-b", "127.0.0.214:15210")                  // hub-b at A, down
	h.Unresponsive(now.Add(time.Minute), "heartbeat: connection refused", "hub-b", "127.0.0.214:15211") // moved to B, still down
	h.Unresponsive(now.Add(2*time.Minute), "heartbeat: timeout", "hub-c", "127.0.0.214:15210")          // hub-c now at A
	rows := h.Servers()
	var names []string
	for _, r := range rows {
		names = append(names, r.Name)
	}
	if len(rows) != 2 {
		t.Fatalf("rows %v (%+v), want hub-b and hub-c apart", names, rows)
	}
}
