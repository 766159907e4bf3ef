package main

import (
	"umbra/internal/config"
)

// metricsNames are the configured names a fresh server shows metric
// series for: receive connectors and mailbox databases.
func metricsNames(cfg *config.Config) (connectors, databases []string) {
	for _, rc := range cfg.ReceiveConnectors {
		connectors = append(connectors, rc.Name)
	}
	if cfg.Mailbox.Maildir != "" || cfg.Mailbox.LMTP != "" {
		databases = append(databases, cfg.Mailbox.Database)
	}
	return connectors, databases
}
