package main

import (
	"umbra/internal/routing"
	"umbra/internal/topology"
)

// loadTopology reads a topology file and builds the routing snapshot,
// with the same code for serve, SIGHUP, config check and route explain.
func loadTopology(path string) (*routing.Topology, error) {
	return topology.Load(path)
}
