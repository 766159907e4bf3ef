package routing

import (
	"fmt"
	"strings"
)

// explainLostChains adds to an explained route into legacy routing
// group group the chains of routing-group connectors that lost to win,
// and why (RT-11: every alternative that lost): for each connector into
// group other than win's last one, the best chain that ends with it.
// Explain only; routing never calls it.
func (t *Topology) explainLostChains(r *Route, me *Server, group string, win rgChain) {
	last := win.conns[len(win.conns)-1]
	for i := range t.rgcs {
		c := &t.rgcs[i]
		if c.Name == last.Name {
			continue
		}
		for k, g := range c.Groups {
			if g != group {
				continue
			}
			from := c.Groups[1-k]
			var alt rgChain
			if from == ModernGroup {
				sc, site, ok := t.bridgehead(me, c)
				if !ok {
					r.why("routing group connector %s lost: no bridgehead in reach", c.Name)
					continue
				}
				alt = rgChain{group: group, conns: []*RoutingGroupConnector{c}, cost: c.Cost, siteCost: sc, site: site}
			} else {
				pre, ok := t.rgPath(me, from)
				if !ok {
					r.why("routing group connector %s lost: its routing group %s is not reached", c.Name, from)
					continue
				}
				alt = rgChain{group: group, conns: append(append([]*RoutingGroupConnector(nil), pre.conns...), c),
					cost: pre.cost + c.Cost, siteCost: pre.siteCost, site: pre.site}
			}
			r.why("chain %s lost: %s", chainNames(alt), chainLostBecause(win, alt))
		}
	}
}

func chainNames(ch rgChain) string {
	var n []string
	for _, c := range ch.conns {
		n = append(n, c.Name)
	}
	return strings.Join(n, ", ")
}

func chainLostBecause(win, o rgChain) string {
	switch {
	case o.cost != win.cost:
		return fmt.Sprintf("higher summed cost %d > %d", o.cost, win.cost)
	case o.siteCost != win.siteCost:
		return fmt.Sprintf("equal summed cost; its first bridgehead is farther (site cost %d > %d)", o.siteCost, win.siteCost)
	}
	return "equal costs; its first connector's name sorts after " + win.conns[0].Name
}
