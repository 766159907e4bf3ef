package delivery

import (
	"context"
	"net"
	"slices"
	"sync"
	"testing"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// reread22a F2 (SR-4): a Deliver that runs several groups in one job —
// here two domains, each its own session to the same MX — reports each
// group's results as that group ends (queue.ReportGroup), so the queue
// commits them without waiting for the other group; the job still
// returns every result.
func TestDeliverReportsEachGroup(t *testing.T) {
	s := startSink(t, "127.0.0.1:0", false, nil)
	dns := &fakeDNS{mx: map[string][]*net.MX{"example.net": {{Host: "mx.example.net.", Pref: 10}}, "example.com": {{Host: "mx.example.net.", Pref: 10}}},
		hosts: map[string][]string{"mx.example.net": {"127.0.0.1"}}}
	d := newDeliverer(t, dns, config.Mailbox{}, mxConnector(portOf(s.addr)))
	m := message("a@example.net", "b@example.com", "c@example.net")
	var mu sync.Mutex
	var reports [][]int
	ctx := queue.WithGroupReport(context.Background(), func(res []queue.Result) {
		var rs []int
		for _, r := range res {
			rs = append(rs, r.Rcpt)
		}
		slices.Sort(rs)
		mu.Lock()
		reports = append(reports, rs)
		mu.Unlock()
	})
	got := byRcpt(m, d.Deliver(ctx, m, body, all(m)))
	for _, a := range []string{"a@example.net", "b@example.com", "c@example.net"} {
		if got[a].Outcome != queue.RelayedOK {
			t.Fatalf("%s: %+v", a, got[a])
		}
	}
	mu.Lock()
	defer mu.Unlock()
	slices.SortFunc(reports, func(x, y []int) int { return x[0] - y[0] })
	if want := [][]int{{0, 2}, {1}}; !slices.EqualFunc(reports, want, slices.Equal) {
		t.Fatalf("group reports %v, want %v (one per domain's session)", reports, want)
	}
}
