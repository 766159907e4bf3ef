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
	ws, err := config.CheckLocalStore(cfg, t)
	if err != nil {
		return ws, localStoreError{err}
	}
	return ws, nil
}

// localStoreError is an error of this server's own store against the
// topology (the topology itself is valid): config check labels it so.
type localStoreError struct{ error }

// storeLostAtReload refuses a reload that would move an authoritative
// domain the running topology maps to a mailbox database into this
// server's own store (config.StoreLostAtReload, ops48 F3): the running
// topology is the one serve read (cur.TopologySource), never the file
// as it reads now; next is of the file reloaded, its topology nt (nil:
// none).
func storeLostAtReload(cur, next *config.Config, nt *config.Topology) error {
	if cur.Topology == "" || len(cur.TopologySource) == 0 {
		return nil
	}
	ct, err := config.ParseTopology(cur.TopologySource, cur.Topology)
	if err != nil {
		return nil // it ran: a parse of the same text does not fail
	}
	return config.StoreLostAtReload(cur, next, ct, nt)
}
