package routing

import "testing"

// The one order of send connectors (RT-9, RT-10): each key decides only
// when every key before it ties, and compareRanks says which decided.
func TestCompareRanksOrder(t *testing.T) {
	base := rank{name: "m", spec: 5, cost: 10, kind: 1}
	for _, c := range []struct {
		what string
		a, b rank
		by   decider
	}{
		{"more specific first, whatever its cost", rank{name: "z", spec: 6, cost: 99, kind: 2}, base, bySpec},
		{"modern before legacy", base, rank{name: "a", spec: 5, legacy: true, cost: 1}, byLegacy},
		{"lower cost first, however far", rank{name: "z", spec: 5, cost: 9, kind: 2}, base, byCost},
		{"this server before this site", rank{name: "z", spec: 5, cost: 10, kind: 0}, base, byKind},
		{"this site before another site", base, rank{name: "a", spec: 5, cost: 10, kind: 2}, byKind},
		{"then by name", rank{name: "a", spec: 5, cost: 10, kind: 1}, base, byName},
		{"a legacy chain's nearer bridgehead", rank{name: "z", spec: 5, legacy: true, cost: 3, bridge: 1}, rank{name: "a", spec: 5, legacy: true, cost: 3, bridge: 2}, byBridge},
	} {
		if got, by := compareRanks(c.a, c.b); got >= 0 || by != c.by {
			t.Errorf("%s: %d by %d, want a first by %d", c.what, got, by, c.by)
		}
		if got, by := compareRanks(c.b, c.a); got <= 0 || by != c.by {
			t.Errorf("%s, reversed: %d by %d", c.what, got, by)
		}
	}
}
