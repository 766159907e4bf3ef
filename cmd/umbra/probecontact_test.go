package main

import (
	"bufio"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"umbra/internal/tracking"
)

// rt46 Finding 1: a primary killed right after its own probe session
// with the shadow server (the XSHADOW session each primary opens every
// shadow_heartbeat_timeout to the servers keeping copies of its queued
// messages) was taken over 8–10 s after that session with 6 s × 2: the
// shadow server did not count the probe as a contact. The promise
// (README, Heartbeats and takeover): a session of the primary's own
// completed here is a contact, and no takeover comes before timeout ×
// retries after the last contact of any kind.
//
// hub-a (the primary, shadow on receipt, probing every second) pushes a
// copy to hub-b, which watches it with heartbeats every 3 s, 2 failures
// in a row. Once the push is past, hub-a's only sessions at hub-b are its
// probes: hub-a is killed as soon as hub-b logs the end of one, and the
// copy's takeover must come no earlier than timeout × retries after it.
func TestNoTakeoverBeforeBoundAfterPrimaryProbe(t *testing.T) {
	t.Parallel()
	a, b, _, cfgA, _, cfgB := receiptOrg(t, "prefer-remote")
	const timeout, retries = 3 * time.Second, 2
	editConfig(t, cfgB, "shadow_heartbeat_timeout: 1s, shadow_heartbeat_retry_count: 3",
		"shadow_heartbeat_timeout: 3s, shadow_heartbeat_retry_count: 2")
	editConfig(t, cfgB, `metrics_listen: ""}`, `metrics_listen: "", log_level: debug}`)
	editConfig(t, cfgA, `metrics_listen: ""}`, `metrics_listen: "", log_level: debug}`)
	hb := startUmbra(t, cfgB, b)
	hb.dumpLogIfFailed()
	ha := startUmbra(t, cfgA, a)
	if reply := rawSend(t, a, "probe@example.org", []string{"b@remote.example"}, "Subject: probe\r\n\r\nhello"); !strings.Contains(reply, "shadow copy on hub-b") {
		ha.dumpLog()
		t.Fatalf("reply %q: want a 250 naming the shadow copy on hub-b", reply)
	}
	p := &shadowPair{}
	waitCond(t, "hub-b to hold the copy", 30*time.Second, func() bool { s, _ := p.held(t, cfgB, "hub-a"); return s == 1 })
	// Past the push and the first contact of the watch it started (a
	// fixed 4 s sleep could end before it on a loaded machine).
	waitWatchContact(t, ha)
	probed := waitProbeEnd(t, hb.log)
	ha.kill()
	var taken time.Time
	waitCond(t, "hub-b to take the copy over", 60*time.Second, func() bool {
		out, _ := cli(t, cfgB, "track", "--json", "--sender", "probe@example.org")
		var es []tracking.Entry
		json.Unmarshal([]byte(out), &es)
		for _, e := range es {
			if e.Event == "takeover" {
				taken = e.Time
			}
		}
		return !taken.IsZero()
	})
	// probed is the time hub-b stamped on the probe's "shadow session"
	// line, before the session's contact is recorded: the bound counts
	// from no earlier than that. (The time the test read the line, on a
	// loaded machine, could be later than the contact by more than any
	// margin.)
	t.Logf("taken over %v after the probe", taken.Sub(probed))
	if got, bound := taken.Sub(probed), timeout*retries; got < bound {
		t.Fatalf("taken over %v after the primary's probe, before timeout × retries (%v)", got, bound)
	}
}

// waitWatchContact waits until hub-a's log (at debug) shows a session
// of hub-b's there: a contact of the watch hub-b keeps on hub-a while it
// holds copies of hub-a's.
func waitWatchContact(t *testing.T, ha *daemon) {
	t.Helper()
	waitCond(t, "hub-b's watch to contact hub-a", 30*time.Second, func() bool {
		l, _ := os.ReadFile(ha.log)
		for _, line := range strings.Split(string(l), "\n") {
			if strings.Contains(line, `msg="shadow session"`) && strings.Contains(line, "shadow_server=hub-b") {
				return true
			}
		}
		return false
	})
}

// logStamp is the time a daemon stamped on its log line.
func logStamp(t *testing.T, line string) time.Time {
	t.Helper()
	stamp, _, _ := strings.Cut(strings.TrimPrefix(line, "time="), " ")
	at, err := time.Parse(time.RFC3339Nano, stamp)
	if err != nil {
		t.Fatalf("no time on the log line %q: %v", line, err)
	}
	return at
}

// waitProbeEnd reads the log at path from its current end until a shadow
// session of hub-a ("shadow session" … hub-a) is followed by a
// "disconnect", and returns the time the daemon stamped on the session's
// "shadow session" line.
func waitProbeEnd(t *testing.T, path string) time.Time {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Seek(0, 2)
	r := bufio.NewReader(f)
	var began time.Time
	var partial string
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		line, err := r.ReadString('\n')
		if err != nil {
			partial += line
			time.Sleep(2 * time.Millisecond)
			continue
		}
		line, partial = partial+line, ""
		switch {
		case strings.Contains(line, "shadow session") && strings.Contains(line, "hub-a"):
			began = logStamp(t, line)
		case !began.IsZero() && strings.Contains(line, "disconnect"):
			return began
		}
	}
	t.Fatal("no probe session of hub-a ended at hub-b in 30 s")
	return time.Time{}
}
