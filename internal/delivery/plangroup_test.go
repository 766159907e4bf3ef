package delivery

import (
	"context"
	"reflect"
	"testing"

	"umbra/internal/config"
)

// Plan groups recipients by next hop in order of first appearance,
// whatever the order and case of their domains: a domain seen just before
// gives the same group, a domain refused (a connector's size limit)
// refuses each of its recipients, and a domain between two others does
// not move a recipient to the wrong group.
func TestPlanGroupsMixedDomains(t *testing.T) {
	partner := config.SendConnector{Name: "partner", AddressSpaces: []config.AddressSpace{{Domain: "b.example", Cost: 1}}}
	small := config.SendConnector{Name: "small", AddressSpaces: []config.AddressSpace{{Domain: "big.example", Cost: 1}}, MaxMessageSize: 10}
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{Database: "db1"}, mxConnector("25"), partner, small)
	m := message("a1@x.example", "a2@X.Example", "b1@b.example", "l1@example.test", "a3@x.example",
		"b2@b.example", "l2@EXAMPLE.test", "g1@big.example", "g2@big.example", "a4@x.example")
	m.Size = 10 + maxOwnTrace + maxSealed + 1 // over small's limit even without the most umbra's own bytes can be (planSize)
	type job struct {
		Dest, Queue string
		Rcpts       []int
	}
	var got []job
	for _, j := range d.Plan(context.Background(), m, all(m)) {
		got = append(got, job{j.Dest, j.Queue, j.Rcpts})
	}
	want := []job{
		{"connector:internet/x.example", "mx:x.example", []int{0, 1, 4, 9}},
		{"connector:partner/b.example", "mx:b.example", []int{2, 5}},
		{"local", "mailbox:db1", []int{3, 6}},
		{"", "", []int{7, 8}}, // over small's size limit: answered without a connection
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("jobs:\n got  %+v\n want %+v", got, want)
	}
}

// RouteQueues names, per recipient, the queue Plan shows it in — a
// recipient answered without a connection gets the queue its result
// names ("" for a size limit) — so an operator's action on a route's
// queue finds the taken-over copies whose route it is.
func TestRouteQueuesAgreeWithPlan(t *testing.T) {
	partner := config.SendConnector{Name: "partner", AddressSpaces: []config.AddressSpace{{Domain: "b.example", Cost: 1}}}
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{Database: "db1"}, mxConnector("25"), partner)
	m := message("a1@x.example", "b1@b.example", "l1@example.test", "b2@B.example")
	got := d.RouteQueues(m, []int{3, 0, 1, 2})
	want := []string{"mx:b.example", "mx:x.example", "mx:b.example", "mailbox:db1"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("route queues %q, want %q", got, want)
	}
}
