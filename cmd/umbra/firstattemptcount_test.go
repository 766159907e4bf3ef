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
// active 20 and message list's QUEUES said submission) — active or
// waiting as queue list says, and in its IN/MIN as they enter it (Q-3, OPS-2,
// rt31d F3).
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
			In      int            `json:"incoming_per_minute"`
		}
		if json.Unmarshal([]byte(out), &qs) != nil {
			return false
		}
		for _, q := range qs {
			if q.Name == "smarthost:sink" && q.ByState["active"] == 2 && q.ByState["waiting"] == n-2 {
				// They entered it as their jobs were planned, none
				// deferred yet (rt31d F3: IN/MIN read 0 until then).
				if q.In != n {
					t.Errorf("smarthost:sink IN/MIN %d with its %d first attempts in it; want %d", q.In, n, n)
				}
				return true
			}
		}
		return false
	})
	// The gauges count them as queue list does: 2 active, the rest
	// waiting for a slot (rt31d F3: the gauge said all active).
	sub := metricValue(t, metricsAddr, `umbra_queue_messages{queue_type="submission",state="active"}`)
	dest := metricValue(t, metricsAddr, `umbra_queue_messages{queue_type="smtp-smart-host",state="active"}`)
	waiting := metricValue(t, metricsAddr, `umbra_queue_messages{queue_type="smtp-smart-host",state="waiting"}`)
	if sub != 0 || dest != 2 || waiting != n-2 {
		t.Errorf("queue gauges: submission active %v, smtp-smart-host active %v, waiting %v; want 0, 2 and %d, as queue list counts them", sub, dest, waiting, n-2)
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
