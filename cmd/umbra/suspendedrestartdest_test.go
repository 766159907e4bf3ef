package main

import (
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"

	"umbra/internal/queue"
)

// Q-6, OPS-2 (opsrt43 F1): after a stop and a start, the destination of
// a queue an operator suspended, its mail held, is listed suspended in
// `queue destinations`, counted so in
// umbra_scheduler_destinations{state="suspended"}, and its
// umbra_scheduler_window series exists — as `queue list` still lists the
// queue suspended. A real daemon, stopped by SIGTERM and started again.
func TestQ6SuspendedDestinationListedAfterRealRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	listen, sink := freeAddr(t, "127.0.0.160"), reserveAddr(t, "127.0.0.160")
	cfg := slowRetryConfig(t, dir, listen, sink)
	metrics := withMetrics(t, cfg)
	d := startUmbra(t, cfg, listen)
	if out, code := cli(t, cfg, "queue", "suspend", "smarthost:sink"); code != 0 {
		t.Fatalf("queue suspend: exit %d %q", code, out)
	}
	if ok, err := send(listen, "held"); !ok {
		t.Fatalf("send: %v", err)
	}
	dests := func() []queue.DestinationInfo {
		out, code := cli(t, cfg, "queue", "destinations", "--json")
		var ds []queue.DestinationInfo
		if code != 0 || json.Unmarshal([]byte(out), &ds) != nil {
			t.Fatalf("queue destinations: exit %d %q", code, out)
		}
		return ds
	}
	suspended := func() bool {
		for _, di := range dests() {
			if di.Queue == "smarthost:sink" && di.State == "suspended" {
				return true
			}
		}
		return false
	}
	waitCond(t, "the destination listed suspended before the stop", 30*time.Second, suspended)

	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
		d.done <- nil
	case <-time.After(40 * time.Second):
		t.Fatal("umbra did not stop after SIGTERM")
	}
	d = startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	if out, _ := cli(t, cfg, "queue", "list"); !strings.Contains(out, "suspended") {
		t.Fatalf("queue list after the restart does not list the queue suspended:\n%s", out)
	}
	if !suspended() {
		t.Errorf("after the restart queue destinations lists %+v; want the destination of smarthost:sink suspended", dests())
	}
	if v := metricValue(t, metrics, `umbra_scheduler_destinations{state="suspended"}`); v != 1 {
		t.Errorf(`umbra_scheduler_destinations{state="suspended"} = %v after the restart, want 1`, v)
	}
	if !strings.Contains(scrapeOf(t, metrics), `umbra_scheduler_window{queue="smarthost:sink"`) {
		t.Errorf("no umbra_scheduler_window series of smarthost:sink after the restart")
	}
}
