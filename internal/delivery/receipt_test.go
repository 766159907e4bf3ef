package delivery

import (
	"testing"

	"umbra/internal/orgid"
	"umbra/internal/queue"
	"umbra/internal/routing"
)

// SR-17: the shadow server of a copy on receipt is where the copy is
// kept, not where the message came from: a route must not avoid it
// (found by make chaos-receipt: with the other hub of the site dead for
// good, a message whose copy was on the live one was sent only to the
// dead one, for ever).
func TestOriginIsNotTheReceiptShadowServer(t *testing.T) {
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}, {Name: "b"}},
		Links: []routing.SiteLink{{Name: "a-b", Sites: []string{"a", "b"}, Cost: 1}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.1:25"},
			{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: "127.0.0.2:25"},
			{Name: "hub-b2", Role: routing.RoleHub, Site: "b", Address: "127.0.0.3:25"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	org := orgid.New()
	relayed := &queue.Message{OrgID: org, ShadowServer: "hub-b", ShadowID: "0001-abc", ClientIP: "127.0.0.9"}
	if got := messageOrigin(topo, relayed); got != "hub-b" {
		t.Errorf("relayed in a shadow session: origin %q, want hub-b", got)
	}
	copied := &queue.Message{OrgID: org, ShadowServer: "hub-b", ShadowID: org, ClientIP: "127.0.0.9"}
	if got := messageOrigin(topo, copied); got != "" {
		t.Errorf("copy on receipt at hub-b: origin %q, want none (the client is outside)", got)
	}
}
