package main

import (
	"fmt"
	"net/netip"

	"umbra/internal/config"
	"umbra/internal/routing"
)

// loadTopology reads a topology file and builds the routing snapshot.
func loadTopology(path string) (*routing.Topology, error) {
	ct, err := config.LoadTopology(path)
	if err != nil {
		return nil, err
	}
	t, err := routing.NewTopology(topologyInput(ct))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// topologyInput converts the validated file into routing's input.
func topologyInput(ct *config.Topology) routing.TopologyInput {
	var in routing.TopologyInput
	for _, s := range ct.Sites {
		site := routing.Site{Name: s.Name, HubSite: s.HubSite}
		for _, p := range s.Subnets {
			site.Subnets = append(site.Subnets, netip.MustParsePrefix(p).Masked())
		}
		in.Sites = append(in.Sites, site)
	}
	for _, l := range ct.SiteLinks {
		in.Links = append(in.Links, routing.SiteLink{Name: l.Name, Sites: l.Sites, Cost: l.Cost, UmbraCost: l.UmbraCost,
			MaxMessageSize: int64(l.MaxMessageSize)})
	}
	for _, s := range ct.Servers {
		srv := routing.Server{Name: s.Name, Role: s.Role, Site: s.Site, Version: s.Version,
			Address: s.Address, RoutingGroup: s.RoutingGroup}
		for _, a := range s.SourceAddresses {
			if p, err := config.ParseSourceAddress(a); err == nil { // validated when loaded
				srv.Sources = append(srv.Sources, p)
			}
		}
		in.Servers = append(in.Servers, srv)
	}
	for _, d := range ct.MailboxDatabases {
		in.Databases = append(in.Databases, routing.Database{Name: d.Name, Server: d.Server})
	}
	for _, r := range ct.Recipients {
		in.Recipients = append(in.Recipients, routing.RecipientMap{Match: r.Match, Database: r.Database})
	}
	for _, c := range ct.SendConnectors {
		sc := routing.SendConnector{Name: c.Name, SourceServers: c.SourceServers, SiteScoped: c.Scope == "site",
			SmartHosts: c.SmartHosts, MaxSize: int64(c.MaxMessageSize), Enabled: c.Enabled == nil || *c.Enabled}
		for _, a := range c.AddressSpaces {
			sc.AddressSpaces = append(sc.AddressSpaces, routing.AddressSpace{Domain: a.Domain, Cost: a.Cost})
		}
		in.Connectors = append(in.Connectors, sc)
	}
	for _, c := range ct.RoutingGroupConnectors {
		in.RGConnectors = append(in.RGConnectors, routing.RoutingGroupConnector{Name: c.Name,
			Groups: [2]string{c.Groups[0], c.Groups[1]}, Cost: c.Cost, MaxSize: int64(c.MaxMessageSize), SourceServers: c.SourceServers})
	}
	return in
}
