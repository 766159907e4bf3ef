package topology

import (
	"fmt"

	"umbra/internal/config"
	"umbra/internal/routing"
)

// Load reads, validates and indexes a topology file.
func Load(path string) (*routing.Topology, error) {
	ct, err := config.LoadTopology(path)
	if err != nil {
		return nil, err
	}
	return Build(ct)
}

// Parse is Load on bytes (file names the errors).
func Parse(data []byte, file string) (*routing.Topology, error) {
	ct, err := config.ParseTopology(data, file)
	if err != nil {
		return nil, err
	}
	return Build(ct)
}

// Build indexes a validated topology file.
func Build(ct *config.Topology) (*routing.Topology, error) {
	t, err := routing.NewTopology(Input(ct))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ct.File, err)
	}
	return t, nil
}

// Input converts the validated file into routing's input.
func Input(ct *config.Topology) routing.TopologyInput {
	var in routing.TopologyInput
	for _, s := range ct.Sites {
		site := routing.Site{Name: s.Name, HubSite: s.HubSite}
		for _, p := range s.Subnets {
			if pr, err := config.ParseRange(p); err == nil { // validated when loaded
				site.Subnets = append(site.Subnets, pr.Masked())
			}
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
		in.Recipients = append(in.Recipients, routing.RecipientMap{Match: r.Match, Database: r.Database,
			Members: r.Members, ExpansionSite: r.ExpansionSite})
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
		rgc := routing.RoutingGroupConnector{Name: c.Name, Cost: c.Cost, MaxSize: int64(c.MaxMessageSize), SourceServers: c.SourceServers}
		copy(rgc.Groups[:], c.Groups) // exactly two once validated
		in.RGConnectors = append(in.RGConnectors, rgc)
	}
	return in
}
