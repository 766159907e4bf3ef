package main

import (
	"slices"

	"umbra/internal/config"
)

// metricsNames are the configured names a fresh server shows metric
// series for: receive connectors and mailbox databases.
func metricsNames(cfg *config.Config) (connectors, databases []string) {
	for _, rc := range cfg.ReceiveConnectors {
		connectors = append(connectors, rc.Name)
	}
	return connectors, mailboxDatabases(cfg)
}

// mailboxDatabases are the mailbox databases of the configuration: its
// own store's (mailbox:, when it has one) and the topology's. The
// metrics show their dumpster and duplicate series at zero from the
// start, as umbra dumpster list shows each of them (a mailbox:DB queue
// name is checked against the same list).
func mailboxDatabases(cfg *config.Config) []string {
	var out []string
	if cfg.Mailbox.Maildir != "" || cfg.Mailbox.LMTP != "" {
		out = append(out, cfg.Mailbox.Database)
	}
	if cfg.Topology != "" {
		if topo, err := config.LoadTopology(cfg.Topology); err == nil {
			for _, d := range topo.MailboxDatabases {
				if !slices.Contains(out, d.Name) {
					out = append(out, d.Name)
				}
			}
		}
	}
	return out
}
