package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// rt18: after a topology move (hub2's address changed) the mark of its
// old address is dropped at start and on reload, and so is that of a
// server the topology no longer has; the marks of servers it has, of
// primaries that copies wait for and of smart hosts stay. Without a
// topology nothing is dropped.
func TestForgetGoneServers(t *testing.T) {
	dir := t.TempDir()
	topo := filepath.Join(dir, "topology.yaml")
	os.WriteFile(topo, []byte(`sites:
  - {name: a, subnets: ["127.0.0.0/8"]}
servers:
  - {name: hub1, role: hub, address: "127.0.64.1:25"}
  - {name: hub2, role: hub, address: "127.0.64.9:25"}
`), 0o600)
	cfg := &config.Config{Topology: topo, SendConnectors: []config.SendConnector{{Name: "out", SmartHosts: []string{"relay.example"}}}}
	t0 := time.Now()
	mark := func() *queue.Health {
		h := queue.NewHealth()
		h.Unresponsive(t0, "x", "hub2", "127.0.64.2:25") // its address before the move
		h.Unresponsive(t0, "x", "hub1", "127.0.64.1:25") // as the topology has it
		h.Unresponsive(t0, "x", "hub7", "127.0.64.7:25") // removed from the topology
		h.Unresponsive(t0, "x", "hub8", "127.0.64.8:25") // removed, but copies wait for it
		h.Unresponsive(t0, "x", "relay.example:25")      // a smart host
		return h
	}
	h := mark()
	forgetGoneServers(cfg, h, []queue.ShadowPeer{{Primary: "hub8", Addr: "127.0.64.8:25 via out"}}, slog.New(slog.DiscardHandler))
	keys, _ := h.Marks()
	want := []string{"127.0.64.1:25", "127.0.64.8:25", "hub1", "hub2", "hub8", "relay.example:25"}
	if !slices.Equal(keys, want) {
		t.Errorf("marks kept: %v\nwant %v", keys, want)
	}
	h = mark()
	forgetGoneServers(&config.Config{}, h, nil, slog.New(slog.DiscardHandler))
	if keys, _ := h.Marks(); len(keys) != 9 {
		t.Errorf("without a topology marks were dropped: %v", keys)
	}
}
