package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"umbra/internal/queue"
)

// The scheduler's destinations in the CLI (issue 15): with the smart
// host down, its destination shows its window and limit, the
// connection error, and goes dead after a cohort of failures; queue list
// prints the same table under the queues.
func TestCLIShowsDestinations(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sinkAddr) // nothing listens at the smart host
	d := startUmbra(t, cfg, listen)
	defer d.kill()
	if acked := sendMany(listen, "dest", 8, 4, nil); len(acked) != 8 {
		t.Fatalf("acknowledged %d", len(acked))
	}
	var sink queue.DestinationInfo
	waitCond(t, "the smart host's destination dead", 30*time.Second, func() bool {
		out, code := cli(t, cfg, "queue", "destinations", "--json")
		var ds []queue.DestinationInfo
		if code != 0 || json.Unmarshal([]byte(out), &ds) != nil {
			return false
		}
		for _, x := range ds {
			if x.Queue == "smarthost:sink" {
				sink = x
			}
		}
		return sink.State == "dead"
	})
	if sink.Max != 10 || sink.Window != 1 || !strings.Contains(sink.LastError, "4.4.1") {
		t.Errorf("dead destination %+v: want window 1 of 10 and the connection error", sink)
	}
	out, code := cli(t, cfg, "queue", "list")
	if code != 0 || !strings.Contains(out, "DESTINATION") || !strings.Contains(out, "smarthost:sink") {
		t.Errorf("queue list without the destinations:\n%s", out)
	}
}
