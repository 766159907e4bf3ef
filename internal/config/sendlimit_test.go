package config

import "testing"

// rt22a L1: a send connector that sets no max_connections keeps none
// after the defaults: its destinations take max_connections_per_destination
// from the scheduler, which a reload moves at once (package delivery,
// TestPlanLeavesTheDefaultLimitToTheScheduler). A copied value would be
// the connector's own limit, unchanged in `queue destinations` after a
// reload until the destination's next delivery.
func TestSendConnectorLimitNotCopiedFromTransport(t *testing.T) {
	c := &Config{SendConnectors: []SendConnector{{Name: "plain"}, {Name: "own", MaxConnections: 7}}}
	c.Transport.MaxConnectionsPerDestination = 4
	applyDefaults(c)
	if n := c.SendConnectors[0].MaxConnections; n != 0 {
		t.Fatalf("a send connector without max_connections has %d after the defaults, want 0 (max_connections_per_destination, reloadable)", n)
	}
	if n := c.SendConnectors[1].MaxConnections; n != 7 {
		t.Fatalf("a connector's own max_connections: %d, want 7", n)
	}
}
