package delivery

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"umbra/internal/routing"
	"umbra/internal/shadow"
	"umbra/internal/testsupport"
)

// OPS logs (holders49 item 2, a sibling): with shadow redundancy off here
// (no shadow server id) the discards still owed to a former holder are
// handed over at its recorded address under OwedPushID (formerAddr,
// pushToFormer, after the probe that cannot go), and the WARN of its
// copies taken as lost said "no hand-over of discards is tried". It says
// the hand-over at that address did not reach it.
func TestUnprobedHolderRedundancyOffSaysTheHandOver(t *testing.T) {
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites:   []routing.Site{{Name: "a"}},
		Servers: []routing.Server{{Name: "hub-p", Role: routing.RoleHub, Site: "a", Address: "127.0.0.1:1"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	silent := testsupport.Reserve(t, "127.0.0.1") // refuses connections: no hand-over reaches it
	_, q := openDiscardPrimary(t)
	if err := q.NoteHolderAddress("hub-b", silent); err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Hostname: "hub-p.test", Routing: routing.NewTable(nil, nil), Topology: topo, LocalServer: "hub-p",
		OwedPushID: "hub-p", Resolver: &fakeDNS{}, ConnectTimeout: 2 * time.Second, CommandTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	h := Holders{R: NewReceiptShadow(d, "db-p").WithHolders(q), Q: q}
	_, err = h.Probe(context.Background(), "hub-b")
	var uh shadow.UnprobedHow
	if !errors.As(err, &uh) {
		t.Fatalf("the probe's error says nothing of why none went: %v", err)
	}
	how := uh.UnprobedHow()
	if strings.Contains(how, "no hand-over of discards is tried") || !strings.Contains(how, "no hand-over of discards at "+silent+" reached it") {
		t.Errorf("%q: a hand-over at %s was tried and did not reach it", how, silent)
	}
	if !strings.Contains(how, "shadow redundancy is off here") {
		t.Errorf("%q does not say why no probe goes", how)
	}
}
