package main

import (
	"umbra/internal/config"
	"umbra/internal/routing"
	"umbra/internal/topology"
)

// loadTopology reads a topology file and builds the routing snapshot,
// with the same code for serve, SIGHUP, config check and route explain.
func loadTopology(path string) (*routing.Topology, error) {
	return topology.Load(path)
}

// topologyInput converts the validated file into routing's input.
func topologyInput(ct *config.Topology) routing.TopologyInput { return topology.Input(ct) }
