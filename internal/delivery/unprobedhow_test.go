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

// OPS logs (holders49 item 2): a holder no probe goes to was WARNed, at
// the takeover bound, as "no server of this server's topology" that "no
// hand-over of discards reached it" — also without a topology, and when
// no address of it is known (no hand-over tried). The probe's error says
// which (shadow.UnprobedHow): no topology; a topology without it and no
// address known; or the address a hand-over went to, unanswered — with
// shadow redundancy off here too (no shadow server id), where the owed
// discards go under OwedPushID all the same and the WARN said none was
// tried.
func TestUnprobedHolderSaysWhy(t *testing.T) {
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites:   []routing.Site{{Name: "a"}},
		Servers: []routing.Server{{Name: "hub-p", Role: routing.RoleHub, Site: "a", Address: "127.0.0.1:1"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	silent := testsupport.Reserve(t, "127.0.0.1") // refuses connections: no hand-over reaches it
	for _, c := range []struct {
		what      string
		topo      *routing.Topology
		addr      string
		off       bool // shadow redundancy off here: no shadow server id, OwedPushID
		want, not []string
	}{
		{"no topology", nil, "", false, []string{"this server has no topology"}, []string{"no server of this server's topology", "reached it"}},
		{"a topology without it, no address known", topo, "", false, []string{"no server of this server's topology", "no address of it is known"}, []string{"reached it"}},
		{"a topology without it, its address recorded", topo, silent, false, []string{"no server of this server's topology", "at its recorded address " + silent}, []string{"no address of it is known"}},
		{"redundancy off, its address recorded", topo, silent, true, []string{"shadow redundancy is off here", "no hand-over of discards at " + silent + " reached it"}, []string{"no hand-over of discards is tried"}},
	} {
		_, q := openDiscardPrimary(t)
		if c.addr != "" {
			if err := q.NoteHolderAddress("hub-b", c.addr); err != nil {
				t.Fatal(err)
			}
		}
		cfg := Config{Hostname: "hub-p.test", Routing: routing.NewTable(nil, nil), Topology: c.topo, LocalServer: "hub-p",
			ShadowServerID: "hub-p", Resolver: &fakeDNS{}, ConnectTimeout: 2 * time.Second, CommandTimeout: 5 * time.Second}
		if c.off {
			cfg.ShadowServerID, cfg.OwedPushID = "", "hub-p"
		}
		d, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		h := Holders{R: NewReceiptShadow(d, "db-p").WithHolders(q), Q: q}
		_, err = h.Probe(context.Background(), "hub-b")
		d.Close()
		var uh shadow.UnprobedHow
		if !errors.As(err, &uh) {
			t.Errorf("%s: the probe's error says nothing of why none went: %v", c.what, err)
			continue
		}
		var np shadow.NotProbeable
		if !errors.As(err, &np) {
			t.Errorf("%s: the error is no longer NotProbeable: %v", c.what, err)
		}
		how := uh.UnprobedHow()
		for _, w := range c.want {
			if !strings.Contains(how, w) {
				t.Errorf("%s: %q does not say %q", c.what, how, w)
			}
		}
		for _, w := range c.not {
			if strings.Contains(how, w) {
				t.Errorf("%s: %q says %q", c.what, how, w)
			}
		}
	}
}
