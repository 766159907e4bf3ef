package routing

import (
	"cmp"
	"strings"
)

// rank is what orders the send connectors whose address space matches a
// domain (RT-9, RT-10). It is the one rule both choices decide by —
// Topology.routeConnector (a relaying hub's choice and route explain's
// with a topology: the same call) and Table.Route (no topology: every
// connector is this server's) — and the key that decided is what route
// explain words (lostBecause, Decision.Reason).
type rank struct {
	name   string
	spec   int  // specificity of the address space matched: more specific first
	legacy bool // a legacy connector: a modern one first
	cost   int  // address space + path to the nearest source server (legacy: routing-group connectors)
	bridge int  // legacy only: site cost to the first routing-group connector's bridgehead
	// kind of the nearest source server: 0 this server, 1 this site, 2
	// another site (two remote sites at different path costs tie here).
	kind int
}

// decider is the key of rank that ordered two connectors.
type decider int

const (
	bySpec decider = iota
	byLegacy
	byCost
	byBridge
	byKind
	byName
)

// compareRanks orders a before b (negative) or after (positive) and
// says which key decided: specificity, modern before legacy, cost, a
// legacy chain's bridgehead, kind, then name.
func compareRanks(a, b rank) (int, decider) {
	switch {
	case a.spec != b.spec:
		return cmp.Compare(b.spec, a.spec), bySpec
	case a.legacy != b.legacy:
		if !a.legacy {
			return -1, byLegacy
		}
		return 1, byLegacy
	case a.cost != b.cost:
		return cmp.Compare(a.cost, b.cost), byCost
	case a.legacy && a.bridge != b.bridge:
		return cmp.Compare(a.bridge, b.bridge), byBridge
	case a.kind != b.kind:
		return cmp.Compare(a.kind, b.kind), byKind
	}
	return strings.Compare(a.name, b.name), byName
}
