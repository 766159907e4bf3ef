package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"umbra/internal/config"
)

// A fresh server shows the dumpster and duplicate series of every
// mailbox database umbra dumpster list shows at zero: the topology's
// too, not only its own store's (a hub of a topology often has none).
func TestMetricsNamesTheTopologyDatabases(t *testing.T) {
	dir := t.TempDir()
	topo := filepath.Join(dir, "topology.yaml")
	os.WriteFile(topo, []byte(`sites:
  - {name: sa, subnets: ["127.0.71.0/24"]}
servers:
  - {name: hub1.sa.test, role: hub, address: "127.0.71.10:2525"}
  - {name: mbx.sa.test, role: mailbox, address: "127.0.71.20:2424"}
mailbox_databases:
  - {name: DB1, server: mbx.sa.test}
recipients:
  - {match: corp.test, database: DB1}
`), 0o600)
	if _, err := config.LoadTopology(topo); err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{Topology: topo}
	cfg.Mailbox.Database = "local"
	if _, dbs := metricsNames(cfg); !slices.Equal(dbs, []string{"DB1"}) {
		t.Errorf("databases with metrics, a hub without a store of its own: %v", dbs)
	}
	cfg.Mailbox.Maildir = filepath.Join(dir, "maildir")
	if _, dbs := metricsNames(cfg); !slices.Equal(dbs, []string{"local", "DB1"}) {
		t.Errorf("databases with metrics, with a store of its own: %v", dbs)
	}
}
