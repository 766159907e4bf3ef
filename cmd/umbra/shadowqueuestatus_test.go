package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// rt24 F4: a shadow queue whose copies are only held for their primary
// is shown "shadow" by queue list (and selected by status=shadow, not
// status=ready), as message list shows its messages and the metrics count
// them; once the copies are taken over they are this server's to deliver
// and the queue is shown as any other (ready, retry or active).
func TestShadowQueueStatusFollowsTakeover(t *testing.T) {
	t.Parallel()
	a, b, _, cfgA, _, cfgB := receiptOrg(t, "prefer-remote")
	metrics := withMetrics(t, cfgB)
	startUmbra(t, cfgB, b)
	ha := startUmbra(t, cfgA, a) // the sink is down: hub-a keeps the mail
	if acked := sendMany(a, "status", 2, 1, nil); len(acked) != 2 {
		ha.dumpLog()
		t.Fatalf("%d of 2 acknowledged", len(acked))
	}
	p := &shadowPair{}
	waitCond(t, "hub-b to hold the copies for hub-a", 30*time.Second, func() bool { s, _ := p.held(t, cfgB, "hub-a"); return s == 2 })
	status := func() string {
		out, _ := cli(t, cfgB, "queue", "list", "--json")
		var qs []struct{ Name, Status string }
		json.Unmarshal([]byte(out), &qs)
		for _, q := range qs {
			if q.Name == "shadow:hub-a" {
				return q.Status
			}
		}
		return ""
	}
	filtered := func(s string) bool {
		out, _ := cli(t, cfgB, "queue", "list", "--json", "--filter", "status="+s)
		return strings.Contains(out, `"shadow:hub-a"`)
	}
	if st := status(); st != "shadow" {
		t.Errorf("queue list shows the queue of held copies %q, want shadow", st)
	}
	if filtered("ready") || !filtered("shadow") {
		t.Errorf("held copies: --filter status=ready selects the queue %v, status=shadow %v; want only shadow", filtered("ready"), filtered("shadow"))
	}
	if out, _ := cli(t, cfgB, "message", "list", "--state", "shadow"); strings.Count(out, "shadow:hub-a") != 2 {
		t.Errorf("message list --state shadow:\n%s", out)
	}
	if v := metricValue(t, metrics, `umbra_queue_messages{queue_type="shadow",state="shadow"}`); v != 2 {
		t.Errorf("metrics count %v shadow copies in state shadow, want 2", v)
	}
	// hub-a dies: its heartbeats fail and hub-b takes the copies over.
	ha.kill()
	waitCond(t, "the takeover", 60*time.Second, func() bool { s, pend := p.held(t, cfgB, "hub-a"); return s == 0 && pend == 2 })
	if st := status(); st == "shadow" || st == "" {
		t.Errorf("queue list shows the queue of taken-over copies %q, want ready, retry or active", st)
	}
	if filtered("shadow") {
		t.Error("--filter status=shadow selects the queue of taken-over copies")
	}
	if out, _ := cli(t, cfgB, "message", "list", "--state", "shadow"); strings.Contains(out, "shadow:hub-a") {
		t.Errorf("message list --state shadow after the takeover:\n%s", out)
	}
	if v := metricValue(t, metrics, `umbra_queue_messages{queue_type="shadow",state="shadow"}`); v != 0 {
		t.Errorf("metrics count %v copies in state shadow after the takeover, want 0", v)
	}
}
