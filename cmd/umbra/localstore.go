package main

import "umbra/internal/config"

// localStoreCheck checks this server's own mailbox store against its
// topology (config.CheckLocalStore: which authoritative domains go into
// it, and that it is no mailbox server of the topology). The daemon
// refuses its errors at start and on reload (serverTopology); config
// check also prints its warnings.
func localStoreCheck(cfg *config.Config) ([]string, error) {
	if cfg.Topology == "" {
		return nil, nil
	}
	t, err := config.LoadTopology(cfg.Topology)
	if err != nil {
		return nil, err
	}
	return config.CheckLocalStore(cfg, t)
}
