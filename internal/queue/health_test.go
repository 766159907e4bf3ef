package queue

import (
	"slices"
	"testing"
	"time"
)

// rt18: a server marked unresponsive under its name and its address that
// then moved (the topology gives it a new address) and answers there is
// no longer listed under the old address either: the keys of one mark
// go together.
func TestHealthMovedServerLeavesNoStaleAddress(t *testing.T) {
	h := NewHealth()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h.Unresponsive(t0, "heartbeat failed", "hub2", "127.0.0.5:25")
	h.Unresponsive(t0, "heartbeat failed", "hub3", "127.0.0.6:25")
	// It moved: a failure at the new address first, then an answer there.
	h.Unresponsive(t0.Add(time.Minute), "heartbeat failed", "hub2", "127.0.0.9:25")
	h.Responsive("hub2", "127.0.0.9:25")
	keys, _ := h.Marks()
	if !slices.Equal(keys, []string{"127.0.0.6:25", "hub3"}) {
		t.Errorf("marks after hub2 answered at its new address: %v; want hub3's only", keys)
	}
	// Answered at its new address without a failure there: the same.
	h.Unresponsive(t0, "heartbeat failed", "hub4", "127.0.0.7:25")
	h.Responsive("hub4", "127.0.0.10:25")
	if h.Unhealthy("127.0.0.7:25") {
		t.Errorf("hub4's old address is still marked after hub4 answered")
	}
	// A mark by address alone (a smart host) is cleared by that address.
	h.Unresponsive(t0, "x", "192.0.2.1:25")
	h.Responsive("192.0.2.1:25")
	if h.Unhealthy("192.0.2.1:25") || !h.Unhealthy("hub3") {
		t.Errorf("marks: %v", func() []string { k, _ := h.Marks(); return k }())
	}
	// Forget drops the marks of servers that no longer exist, with the
	// keys marked together with them.
	h.Unresponsive(t0, "x", "hub5", "127.0.0.8:25")
	h.Forget(func(k string) bool { return k != "hub5" && k != "127.0.0.8:25" })
	if h.Unhealthy("hub5", "127.0.0.8:25") || !h.Unhealthy("hub3", "127.0.0.6:25") {
		t.Errorf("after Forget: %v", func() []string { k, _ := h.Marks(); return k }())
	}
}
