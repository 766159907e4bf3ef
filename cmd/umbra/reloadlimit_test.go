package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"umbra/internal/queue"
)

// OPS-1: a reload that changes a send connector's own max_connections
// shows at once in queue destinations (and queue list, the metrics),
// not from the destination's next delivery: after the one message was
// delivered nothing more goes to the smart host, and the limit shown
// must be the reloaded one. Taking the setting out gives the
// destination max_connections_per_destination, at once too.
func TestReloadShowsConnectorLimitAtOnce(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), reserveAddr(t, "127.0.0.1")
	sink := startPlainHost(t, sinkAddr, "sink.e2e.test")
	cfg := relayConfig(t, dir, listen, sinkAddr)
	editConfig(t, cfg, "    tls: none\n", "    tls: none\n    max_connections: 2\n")
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	if acked := sendMany(listen, "limit", 1, 1, nil); len(acked) != 1 {
		t.Fatalf("acknowledged %d", len(acked))
	}
	waitCond(t, "the message delivered to the smart host", 30*time.Second, func() bool {
		_, bodies := sink.got()
		return len(bodies) == 1
	})
	limit := func() int {
		t.Helper()
		out, code := cli(t, cfg, "queue", "destinations", "--json")
		var ds []queue.DestinationInfo
		if code != 0 || json.Unmarshal([]byte(out), &ds) != nil {
			t.Fatalf("queue destinations: exit %d\n%s", code, out)
		}
		for _, x := range ds {
			if x.Queue == "smarthost:sink" {
				return x.Max
			}
		}
		t.Fatalf("no destination of smarthost:sink in %s", out)
		return 0
	}
	if got := limit(); got != 2 {
		t.Fatalf("before the reload the limit shown is %d, want the connector's 2", got)
	}
	reloads := 0
	reload := func() {
		t.Helper()
		reloads++
		d.hup()
		waitCond(t, "the reload", 30*time.Second, func() bool {
			b, _ := os.ReadFile(d.log)
			return strings.Count(string(b), "configuration reloaded") >= reloads
		})
	}
	editConfig(t, cfg, "    max_connections: 2\n", "    max_connections: 4\n")
	reload()
	if got := limit(); got != 4 {
		t.Errorf("after a reload to max_connections 4 the limit shown is %d (the limit of its last delivery), want 4", got)
	}
	editConfig(t, cfg, "    max_connections: 4\n", "")
	reload()
	if got := limit(); got != 10 {
		t.Errorf("after a reload without the connector's max_connections the limit shown is %d, want max_connections_per_destination's 10", got)
	}
	if _, bodies := sink.got(); len(bodies) != 1 {
		t.Errorf("the smart host got %d messages, want the one", len(bodies))
	}
}
