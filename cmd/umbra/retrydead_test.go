package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/queue"
)

// Q-, OPS- (rt36 F2): `queue retry` of a queue whose destination is
// dead ends the cool-down for one probe, and says so: the destination,
// how long it was dead and its failures in a row, that one message tries
// it first and the others follow only if that try succeeds — never a
// plain "N messages due now" while all but one are deferred on the dead
// mark without a connection. The probe failing adds one to the
// failures in a row: the operator's retry does not start the count
// again (queue destinations' FAILURES is failures in a row, no success
// since).
func TestQueueRetryOfDeadDestinationProbesAndKeepsFailures(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	listen, sinkAddr := "127.0.0.175:9521", "127.0.0.175:9522" // nothing listens at sinkAddr
	cfg := relayConfig(t, dir, listen, sinkAddr)
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(b), "  retry_schedule: [1s]\n",
		"  retry_schedule: [1h]\n  dead_destination_cool_down: 1h\n  initial_destination_concurrency: 1\n", 1)), 0o600)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	c, err := gosmtp.Dial(listen)
	if err != nil {
		t.Fatal(err)
	}
	for range 4 {
		if err := c.SendMail("a@example.org", []string{"x@elsewhere.example"}, strings.NewReader("Subject: w\r\n\r\nhi\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	c.Quit()
	dest := func() (queue.DestinationInfo, bool) {
		out, _ := cli(t, cfg, "queue", "destinations", "--json")
		var ds []queue.DestinationInfo
		if json.Unmarshal([]byte(out), &ds) != nil {
			return queue.DestinationInfo{}, false
		}
		for _, d := range ds {
			if d.Queue == "smarthost:sink" {
				return d, true
			}
		}
		return queue.DestinationInfo{}, false
	}
	var before queue.DestinationInfo
	waitCond(t, "the destination dead", 30*time.Second, func() bool {
		var ok bool
		before, ok = dest()
		return ok && before.State == "dead"
	})
	waitCond(t, "the deferrals", 30*time.Second, func() bool {
		out, _ := cli(t, cfg, "message", "list", "--json", "--state", "retry")
		var ms []json.RawMessage
		return json.Unmarshal([]byte(out), &ms) == nil && len(ms) == 4
	})
	if before, _ = dest(); before.State != "dead" || before.Failures < 1 {
		t.Fatalf("before the retry: %+v", before)
	}
	out, code := cli(t, cfg, "queue", "retry", "smarthost:sink")
	if code != 0 || !strings.Contains(out, "4 messages") || !strings.Contains(out, "dead until "+before.DeadUntil.Local().Format(time.TimeOnly)) ||
		!strings.Contains(out, "probe") || !strings.Contains(out, "in a row") {
		t.Errorf("queue retry of a dead destination: exit %d %q; want the 4 messages, the dead mark's end, its failures and the probe", code, out)
	}
	var after queue.DestinationInfo
	waitCond(t, "the probe failed: the destination dead again", 30*time.Second, func() bool {
		var ok bool
		after, ok = dest()
		return ok && after.State == "dead" && after.DeadUntil.After(before.DeadUntil)
	})
	if after.Failures != before.Failures+1 {
		t.Errorf("failures in a row after the operator's retry and one failed probe: %d, want %d (it had %d)", after.Failures, before.Failures+1, before.Failures)
	}
}
