package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// A refused by-id action is no failed commit (rt18c-F2):
// umbra_queue_commit_errors_total ("Failed transport database commits",
// which deploy/prometheus-rules.yaml alerts on) stays 0 through a
// second message suspend (already suspended, exit 1), a message resume
// of a message waiting for a retry and an action on an unknown id.
func TestRefusedActionIsNoFailedCommit(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr, metricsAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sinkAddr) // nothing listens at sinkAddr: deferred
	editConfig(t, cfg, `metrics_listen: ""`, "metrics_listen: "+metricsAddr)
	editConfig(t, cfg, "retry_schedule: [1s]", "retry_schedule: [1h]") // "retry" stays "retry" while it is read
	startUmbra(t, cfg, listen)
	if ok, err := send(listen, "refusals"); !ok || err != nil {
		t.Fatalf("not acknowledged: %v %v", ok, err)
	}
	var id string
	waitCond(t, "the deferral", 30*time.Second, func() bool {
		out, _ := cli(t, cfg, "message", "list", "--json")
		var ms []struct {
			ID    string `json:"id"`
			State string `json:"state"`
		}
		if json.Unmarshal([]byte(out), &ms) != nil || len(ms) != 1 || ms[0].State != "retry" {
			return false
		}
		id = ms[0].ID
		return true
	})
	const series = "umbra_queue_commit_errors_total"
	if code, stderr := cliErr(t, cfg, "message", "resume", id); code != exitFailure {
		t.Fatalf("message resume of a waiting message: exit %d %q, want 1", code, stderr)
	}
	if out, code := cli(t, cfg, "message", "suspend", id); code != 0 {
		t.Fatalf("message suspend: exit %d %q", code, out)
	}
	if code, stderr := cliErr(t, cfg, "message", "suspend", id); code != exitFailure || !strings.Contains(stderr, "already suspended") {
		t.Fatalf("second message suspend: exit %d %q, want 1, already suspended", code, stderr)
	}
	cliErr(t, cfg, "message", "suspend", "000661BB00000000") // no such message
	if v := metricValue(t, metricsAddr, series); v != 0 {
		t.Errorf("%s = %v after refused actions, want 0: a refusal is no failed commit", series, v)
	}
}
