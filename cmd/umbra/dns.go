package main

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"umbra/internal/config"
	"umbra/internal/resolver"
)

// newResolver builds the one resolver of the server (EDGE "DNS done
// once"): the dns section's servers (or /etc/resolv.conf's) behind a
// cache. reg nil: no metrics (a configuration check).
func newResolver(d config.DNS, reg prometheus.Registerer) (*resolver.Cache, error) {
	c, err := resolver.New(resolver.Config{Servers: d.ServerAddrs(), Timeout: d.Timeout.D(), Attempts: d.Attempts, TrustAD: d.TrustAD,
		HostsFile: d.HostsPath()})
	if err != nil {
		return nil, fmt.Errorf("dns: %w", err)
	}
	var m *resolver.Metrics
	if reg != nil {
		m = resolver.NewMetrics(reg)
	}
	// One lookup shared by several callers may take every attempt at
	// every server, and no longer.
	return resolver.NewCache(c, resolver.CacheConfig{Size: d.CacheSize, MaxTTL: d.MaxTTL.D(), NegativeTTL: d.NegativeTTL.D(),
		Budget: c.Budget(), Metrics: m}), nil
}
