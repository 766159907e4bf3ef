package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// A first-attempt backlog behind a slow next hop is counted in its
// destination's queue — not in submission — by queue list, the queue
// gauges and message list alike (README: "counted in its destination's
// queue, not in submission"; rt18c-F7: the gauges said submission
// active 20 and message list's QUEUES said submission).
func TestFirstAttemptBacklogCountedInItsDestination(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr, metricsAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	startSlowReplySink(t, sinkAddr, time.Minute) // takes each message, answers its final dot a minute later
	cfg := relayConfig(t, dir, listen, sinkAddr)
	editConfig(t, cfg, `metrics_listen: ""`, "metrics_listen: "+metricsAddr)
	editConfig(t, cfg, "transport:\n", "transport:\n  initial_destination_concurrency: 2\n  max_connections_per_destination: 2\n")
	startUmbra(t, cfg, listen)
	const n = 6
	for i := range n {
		if ok, err := send(listen, "backlog "+string(rune('a'+i))); !ok || err != nil {
			t.Fatalf("not acknowledged: %v %v", ok, err)
		}
	}
	waitCond(t, "the backlog in smarthost:sink", 30*time.Second, func() bool {
		out, _ := cli(t, cfg, "queue", "list", "--json")
		var qs []struct {
			Name    string         `json:"name"`
			ByState map[string]int `json:"by_state"`
		}
		if json.Unmarshal([]byte(out), &qs) != nil {
			return false
		}
		for _, q := range qs {
			if q.Name == "smarthost:sink" && q.ByState["active"] == 2 && q.ByState["waiting"] == n-2 {
				return true
			}
		}
		return false
	})
	sub := metricValue(t, metricsAddr, `umbra_queue_messages{queue_type="submission",state="active"}`)
	dest := metricValue(t, metricsAddr, `umbra_queue_messages{queue_type="smtp-smart-host",state="active"}`)
	if sub != 0 || dest != n {
		t.Errorf("queue gauges: submission active %v, smtp-smart-host active %v; want 0 and %d, as queue list counts them", sub, dest, n)
	}
	out, code := cli(t, cfg, "message", "list", "--queue", "smarthost:sink", "--json")
	var ms []struct {
		ID     string   `json:"id"`
		Queues []string `json:"queues"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &ms) != nil || len(ms) != n {
		t.Fatalf("message list --queue smarthost:sink: exit %d\n%s", code, out)
	}
	for _, m := range ms {
		if strings.Join(m.Queues, ",") != "smarthost:sink" {
			t.Errorf("message %s: queues %v, want [smarthost:sink]", m.ID, m.Queues)
		}
	}
}
