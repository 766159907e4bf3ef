package main

import (
	"strings"
	"testing"
	"time"
)

// Q-6, OPS-1: a send connector renamed by a reload leaves no destination
// behind: queue destinations stopped listing connector:OLD failing (and
// the gauges counting it) while queue retry smarthost:OLD said no such
// queue, and a resume of smarthost:OLD, suspended before the rename,
// promised the cool-down of that dead destination while the released
// mail went at once by the new connector (rt26c F4, F5).
func TestRenamedConnectorLeavesNoDestination(t *testing.T) {
	dir := t.TempDir()
	listen, deadAddr, newAddr := freeAddr(t, "127.0.0.195"), freeAddr(t, "127.0.0.196"), reserveAddr(t, "127.0.0.197")
	cfg := relayConfig(t, dir, listen, deadAddr)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	acked := sendMany(listen, "renamed", 6, 2, nil)
	if len(acked) != 6 {
		t.Fatalf("%d of 6 acknowledged", len(acked))
	}
	waitCond(t, "connector:sink failing or dead", 30*time.Second, func() bool {
		out, _ := cli(t, cfg, "queue", "destinations")
		return strings.Contains(out, "connector:sink") && (strings.Contains(out, "failing") || strings.Contains(out, "dead"))
	})
	if out, code := cli(t, cfg, "queue", "suspend", "smarthost:sink"); code != 0 {
		t.Fatalf("suspend: exit %d %s", code, out)
	}
	rec := startRecorder(t, newAddr)
	editConfig(t, cfg, "  - name: sink\n", "  - name: relay\n")
	editConfig(t, cfg, deadAddr, newAddr)
	d.hup()
	waitCond(t, "the reload", 30*time.Second, func() bool {
		out, _ := cli(t, cfg, "queue", "destinations")
		return !strings.Contains(out, "connector:sink")
	})
	out, code := cli(t, cfg, "queue", "resume", "smarthost:sink")
	if code != 0 || strings.Contains(out, "cool-down") || strings.Contains(out, "connector:sink") {
		t.Errorf("resume of the renamed connector's suspended queue: exit %d %q, want no cool-down of its old destination", code, out)
	}
	waitArrived(t, rec, acked, d)
	if out, _ := cli(t, cfg, "queue", "destinations"); strings.Contains(out, "connector:sink") {
		t.Errorf("connector:sink listed again after the mail went by relay:\n%s", out)
	}
}
