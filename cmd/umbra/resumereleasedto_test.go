package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// Q-4, OPS-5 (rt28c F6): queue resume says where the messages it
// released go, as the scheduler routes them now — also when they all go
// now (no dead destination, no suspended route): the destination is
// named in the text, and --json carries released_to as the admin API
// answers it.
func TestQueueResumeNamesDestinationsWhenAllDueNow(t *testing.T) {
	dir := t.TempDir()
	listen, sink := freeAddr(t, "127.0.0.162"), freeAddr(t, "127.0.0.162")
	cfg := relayConfig(t, dir, listen, sink)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	for i, args := range [][]string{{"queue", "suspend", "smarthost:sink"}} {
		if out, code := cli(t, cfg, args...); code != 0 {
			t.Fatalf("%d %v: exit %d %s", i, args, code, out)
		}
	}
	if acked := sendMany(listen, "held", 3, 1, nil); len(acked) != 3 {
		t.Fatalf("%d of 3 acknowledged", len(acked))
	}
	waitCond(t, "the held mail", 30*time.Second, func() bool {
		out, _ := cli(t, cfg, "message", "list", "--json")
		return strings.Count(out, `"held"`) >= 3 || strings.Count(out, `"suspended"`) >= 3
	})
	out, code := cli(t, cfg, "queue", "resume", "smarthost:sink")
	if code != 0 || !strings.Contains(out, "3 messages") || !strings.Contains(out, "connector:sink") {
		t.Errorf("queue resume: exit %d %q, want its 3 messages and where they go (connector:sink)", code, out)
	}
	if out, code := cli(t, cfg, "queue", "suspend", "smarthost:sink"); code != 0 {
		t.Fatalf("suspend: exit %d %s", code, out)
	}
	out, code = cli(t, cfg, "queue", "resume", "smarthost:sink", "--json")
	var v struct {
		Released map[string]int `json:"released_to"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil || v.Released["connector:sink"] == 0 {
		t.Errorf("queue resume --json: exit %d %q, want released_to with connector:sink", code, out)
	}
}
