package delivery

import (
	"context"
	"testing"

	"umbra/internal/config"
)

// rt22a L1: a destination whose send connector sets no max_connections of
// its own (and a mailbox database, which has none) takes
// max_connections_per_destination from the scheduler (Job.Max 0), whose
// limit a reload moves at once for the destinations known already
// (queue.Manager.SetReloadable); a limit written into the job would keep
// the old one in `queue destinations` until the destination's next
// delivery. A connector's own max_connections is the job's.
func TestPlanLeavesTheDefaultLimitToTheScheduler(t *testing.T) {
	own := config.SendConnector{Name: "own", AddressSpaces: []config.AddressSpace{{Domain: "b.example", Cost: 1}}, MaxConnections: 7}
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{Database: "db1"}, mxConnector("25"), own)
	m := message("a@x.example", "b@b.example", "l@example.test")
	got := map[string]int{}
	for _, j := range d.Plan(context.Background(), m, all(m)) {
		got[j.Queue] = j.Max
	}
	if got["mx:x.example"] != 0 || got["mailbox:db1"] != 0 || got["mx:b.example"] != 7 {
		t.Fatalf("job limits %v: want 0 (the scheduler's, reloadable) for the connector without one and the mailbox, 7 for the connector's own", got)
	}

}

// OPS-1: the limit a reload gives the scheduler's destinations known
// already (queue.Manager.SetReloadable) is the one Plan gives their next
// job: a connector's own, 0 (the scheduler's default) for one without
// and for this server's mailbox store; a redirect target and a connector
// the configuration does not have are not named.
func TestDestinationLimitIsThePlansLimit(t *testing.T) {
	own := config.SendConnector{Name: "own", AddressSpaces: []config.AddressSpace{{Domain: "b.example", Cost: 1}}, MaxConnections: 7}
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{Database: "db1"}, mxConnector("25"), own)
	m := message("a@x.example", "b@b.example", "l@example.test")
	for _, j := range d.Plan(context.Background(), m, all(m)) {
		if got, ok := d.DestinationLimit(j.Dest); !ok || got != j.Max {
			t.Errorf("destination %s: DestinationLimit %d, %v; its job's limit is %d", j.Dest, got, ok, j.Max)
		}
	}
	for _, key := range []string{"redirect:h.example", "connector:gone", "connector:gone/b.example"} {
		if got, ok := d.DestinationLimit(key); ok {
			t.Errorf("%s: limit %d named, want none", key, got)
		}
	}
}
