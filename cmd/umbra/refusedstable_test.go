package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
)

// refusedRow is hub's shadow list --json row for primary: its state and
// since when it refuses ("" when not listed or not refused).
func refusedRow(t *testing.T, cfg, primary string) (state, since string) {
	out, code := cli(t, cfg, "shadow", "list", "--json")
	var rows []struct {
		Primary string `json:"primary"`
		State   string `json:"state"`
		Since   string `json:"refused_since"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &rows) != nil {
		return "?", ""
	}
	for _, p := range rows {
		if p.Primary == primary {
			return p.State, p.Since
		}
	}
	return "", ""
}

// SR-6, OPS-2 (rt30a F3): hub-a, the primary of a copy hub-b holds, is
// reloaded without accept-xshadow: hub-b's heartbeats get 502 5.5.1
// XSHADOW not available while a session of hub-b's let in before the
// reload may still complete its discard queries. shadow list (and
// umbra_shadow_primary_state, from the same status) flapped between
// healthy and refused each second, the since starting again at each
// refusal. One state, refused, with one since, until a heartbeat is let
// in again. The test samples hub-b's view a bounded number of times; it
// asserts no duration.
func TestSR6PrimaryReloadedWithoutXShadowShowsOneRefusal(t *testing.T) {
	t.Parallel()
	o := &receiptHubs{dir: t.TempDir(), a: freeAddr(t, "127.0.0.133"), b: freeAddr(t, "127.0.0.134"), sink: reserveAddr(t, "127.0.0.1")}
	topoPath := twoSiteTopology(t, o.dir, o.a, o.b, o.sink, "hub-a", "hub-b")
	o.cfgA, o.dataA = orgHub(t, o.dir, "hub-a", o.a, topoPath, shadowOnReceipt("remote-only", false), "")
	o.cfgB, o.dataB = orgHub(t, o.dir, "hub-b", o.b, topoPath, "0s", "")
	ha, hb := o.start(t) // no sink: hub-a keeps the message, hub-b its copy
	o.sendCopied(t, "Subject: held\r\n\r\nbody")
	waitCond(t, "hub-b's shadow list to show hub-a healthy", 30*time.Second, func() bool {
		st, _ := refusedRow(t, o.cfgB, "hub-a")
		return st == "healthy"
	})
	editConfig(t, o.cfgA, "servers: [submit, relay, accept-xshadow]", "servers: [submit, relay]")
	if err := ha.hup(); err != nil {
		t.Fatal(err)
	}
	waitCond(t, "hub-b's shadow list to show hub-a refused", 30*time.Second, func() bool {
		st, _ := refusedRow(t, o.cfgB, "hub-a")
		return st == "refused"
	})
	_, since := refusedRow(t, o.cfgB, "hub-a")
	failed := heartbeatFailures(hb)
	for i := range 40 { // 40 samples, 200 ms apart: several heartbeats
		time.Sleep(200 * time.Millisecond)
		st, s := refusedRow(t, o.cfgB, "hub-a")
		if st == "?" {
			continue // a busy daemon: the listing says nothing
		}
		if n := heartbeatFailures(hb); n != failed && (st != "refused" || s != since) {
			// A heartbeat that failed (cut off by its bound on a loaded
			// machine: no answer at all) ends the refusal in the views
			// by design (shadow.Recorder.unreachable, rt18 F5): the
			// views say it no longer answers. The promise is about
			// refusals answered; the next refused heartbeat starts the
			// one refusal again.
			failed = n
			if st == "refused" {
				since = s
			} else {
				since = ""
			}
			continue
		}
		if since == "" && st == "refused" {
			since = s
			continue
		}
		if st != "refused" || s != since {
			out, _ := cli(t, o.cfgB, "shadow", "list")
			hb.dumpLog()
			t.Fatalf("sample %d: hub-a %s since %q, want refused since %q (the first refusal):\n%s", i, st, s, since, out)
		}
	}
	b, _ := cli(t, o.cfgB, "shadow", "list")
	if !strings.Contains(b, "XSHADOW not available") {
		t.Fatalf("shadow list does not give hub-a's reply:\n%s", b)
	}
}

// heartbeatFailures counts the heartbeats hub's log says failed.
func heartbeatFailures(hub *daemon) int {
	b, _ := os.ReadFile(hub.log)
	return strings.Count(string(b), `msg="heartbeat failed"`)
}
