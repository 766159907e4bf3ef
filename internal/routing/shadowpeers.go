package routing

import "sort"

// ShadowCandidates lists the transport servers that may keep a shadow
// copy on receipt for server local (SPEC SR-17): the other hubs of its
// site, by name, and the hubs of every other site it can reach, nearest
// site first (least path cost, then site name), by name within a site.
// A server unknown to the topology has none.
func (t *Topology) ShadowCandidates(local string) (sameSite, otherSites []*Server) {
	me := t.server(local)
	ok := me != nil
	if !ok {
		return nil, nil
	}
	for _, s := range t.bySite[me.Site] {
		if s.Name != local {
			sameSite = append(sameSite, s)
		}
	}
	type site struct {
		name string
		cost int
	}
	var sites []site
	for name := range t.bySite {
		if name == me.Site {
			continue
		}
		if c := t.siteCost(me.Site, name); c >= 0 {
			sites = append(sites, site{name, c})
		}
	}
	sort.Slice(sites, func(i, j int) bool {
		if sites[i].cost != sites[j].cost {
			return sites[i].cost < sites[j].cost
		}
		return sites[i].name < sites[j].name
	})
	for _, st := range sites {
		for _, s := range t.bySite[st.name] {
			if s.Name != local {
				otherSites = append(otherSites, s)
			}
		}
	}
	return sameSite, otherSites
}
