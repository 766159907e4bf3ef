package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"umbra/internal/queue"
)

// Q-4, Q-6 (ops27 1): queue resume says what the scheduler does with
// the messages it releases — their real next destination and its state
// — not what the resumed queue's name suggests. Here the queue
// smarthost:sink was suspended, a reload renamed its connector to relay
// and pointed it at another address nobody answers, and relay's
// destination went dead on later mail: the released messages go by
// connector:relay when its cool-down ends. The line looked up
// destinations by the resumed queue's name, found none (the reload
// dropped connector:sink) and said "due now".
func TestQueueResumeSaysWhereReleasedMailGoes(t *testing.T) {
	dir := t.TempDir()
	listen, deadAddr, otherDead := freeAddr(t, "127.0.0.183"), freeAddr(t, "127.0.0.183"), freeAddr(t, "127.0.0.184")
	cfg := relayConfig(t, dir, listen, deadAddr)
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(b), "  retry_schedule: [1s]\n",
		"  retry_schedule: [1h]\n  dead_destination_cool_down: 1h\n  initial_destination_concurrency: 1\n", 1)), 0o600)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	deadOf := func(name string) time.Time {
		out, _ := cli(t, cfg, "queue", "destinations", "--json")
		var ds []queue.DestinationInfo
		json.Unmarshal([]byte(out), &ds)
		for _, d := range ds {
			if d.Name == name && d.State == "dead" {
				return d.DeadUntil
			}
		}
		return time.Time{}
	}
	if acked := sendMany(listen, "held", 3, 1, nil); len(acked) != 3 {
		t.Fatalf("%d of 3 acknowledged", len(acked))
	}
	waitCond(t, "connector:sink dead", 30*time.Second, func() bool { return !deadOf("connector:sink").IsZero() })
	waitCond(t, "the deferrals", 30*time.Second, func() bool {
		out, _ := cli(t, cfg, "message", "list", "--json")
		return strings.Count(out, `"retry"`) == 3
	})
	if out, code := cli(t, cfg, "queue", "suspend", "smarthost:sink"); code != 0 {
		t.Fatalf("suspend: exit %d %s", code, out)
	}
	editConfig(t, cfg, "  - name: sink\n", "  - name: relay\n")
	editConfig(t, cfg, deadAddr, otherDead)
	d.hup()
	waitCond(t, "the reload", 30*time.Second, func() bool {
		out, _ := cli(t, cfg, "queue", "destinations")
		return !strings.Contains(out, "connector:sink")
	})
	if acked := sendMany(listen, "later", 3, 1, nil); len(acked) != 3 {
		t.Fatalf("%d of 3 acknowledged", len(acked))
	}
	var until time.Time
	waitCond(t, "connector:relay dead", 30*time.Second, func() bool { until = deadOf("connector:relay"); return !until.IsZero() })

	out, code := cli(t, cfg, "queue", "resume", "smarthost:sink")
	when := until.Local().Format(time.TimeOnly)
	if code != 0 || strings.Contains(out, "due now") || !strings.Contains(out, "3 messages") || !strings.Contains(out, "connector:relay") ||
		!strings.Contains(out, when) || !strings.Contains(out, "cool-down") {
		t.Errorf("queue resume of mail now routed to a dead destination: exit %d %q, want its 3 messages due when connector:relay's cool-down ends, at %s", code, out, when)
	}
	// Attempted (no connection: the destination is dead), they wait in
	// relay's queue now, with the later mail; --json says the same.
	waitCond(t, "the released mail in smarthost:relay", 30*time.Second, func() bool {
		out, _ := cli(t, cfg, "queue", "list", "--json")
		return strings.Contains(out, `"smarthost:relay"`) && !strings.Contains(out, `"smarthost:sink"`)
	})
	if out, code := cli(t, cfg, "queue", "suspend", "smarthost:relay"); code != 0 {
		t.Fatalf("suspend: exit %d %s", code, out)
	}
	out, code = cli(t, cfg, "queue", "resume", "smarthost:relay", "--json")
	var v struct {
		DueAt time.Time `json:"due_at"`
		Dead  []struct {
			Name string `json:"name"`
		} `json:"dead_destinations"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil || !v.DueAt.Equal(until) || len(v.Dead) != 1 || v.Dead[0].Name != "connector:relay" {
		t.Errorf("queue resume --json: exit %d %q, want due_at %v of connector:relay", code, out, until)
	}
}
