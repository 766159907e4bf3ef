package shadow

import "testing"

// SR-17, OPS-3 (shadow30 item 1): shadow list never shows a server the
// topology no longer lists as refused — neither a server whose contacts
// this server refuses (no copy of it held: a row of its own) nor a
// holder whose sessions are refused here. A server still listed keeps
// its row.
func TestStatusShowsNoRemovedServerRefused(t *testing.T) {
	m, _, _, _ := setup()
	m.rec.refusedHere("hub-x", "db-c", "hub-c", "database id db-c presented by hub-x is hub-c's here")
	m.rec.refusedHere("hub-y", "db-c", "hub-c", "database id db-c presented by hub-y is hub-c's here")
	m.rec.SetHolderRefusals(func() []HolderRefusal {
		return []HolderRefusal{{Server: "hub-z", Since: t0, LastRefused: t0, Why: "refused"}, {Server: "hub-w", Since: t0, LastRefused: t0, Why: "refused"}}
	})
	known := map[string]bool{"hub-b": true, "hub-y": true, "hub-w": true}
	m.rec.SetServerKnown(func(name string) bool { return known[name] })
	rows := map[string]bool{}
	for _, ps := range m.Status() {
		rows[ps.Name] = true
	}
	if rows["hub-x"] || rows["hub-z"] {
		t.Errorf("shadow list rows %v: a server removed from the topology shown refused", rows)
	}
	if !rows["hub-y"] || !rows["hub-w"] || !rows["hub-b"] {
		t.Errorf("shadow list rows %v: want hub-b, hub-y and hub-w kept", rows)
	}
}
