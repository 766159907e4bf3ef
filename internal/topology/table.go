package topology

import (
	"umbra/internal/config"
	"umbra/internal/routing"
)

// RoutingTable is the routing table of a configuration without a
// topology: its accepted domains and its send connectors' address spaces.
// The daemon, `config check`, `route explain` and the simulation build it
// here, so they route alike.
func RoutingTable(cfg *config.Config) *routing.Table {
	var domains []routing.AcceptedDomain
	for _, d := range cfg.AcceptedDomains {
		typ := map[string]routing.DomainType{config.DomainAuthoritative: routing.Authoritative,
			config.DomainInternalRelay: routing.InternalRelay, config.DomainExternalRelay: routing.ExternalRelay}[d.Type]
		domains = append(domains, routing.AcceptedDomain{Domain: d.Domain, Type: typ})
	}
	var conns []routing.Connector
	for _, sc := range cfg.SendConnectors {
		c := routing.Connector{Name: sc.Name, Enabled: sc.IsEnabled()}
		for _, as := range sc.AddressSpaces {
			c.AddressSpaces = append(c.AddressSpaces, routing.AddressSpace{Domain: as.Domain, Cost: as.Cost})
		}
		conns = append(conns, c)
	}
	return routing.NewTable(domains, conns)
}
