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

// queue resume ends no dead destination's cool-down: the released
// messages go when it ends, and resume says so, with the time — not
// "due now" while each message's next attempt is the cool-down's end
// (rt18c-F4). --json gives the time too.
func TestQueueResumeBehindDeadDestinationSaysWhen(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1") // nothing listens at sinkAddr
	cfg := relayConfig(t, dir, listen, sinkAddr)
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(b), "  retry_schedule: [1s]\n",
		"  retry_schedule: [1h]\n  dead_destination_cool_down: 1h\n  initial_destination_concurrency: 1\n", 1)), 0o600)
	startUmbra(t, cfg, listen)
	c, err := gosmtp.Dial(listen)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := c.SendMail("a@example.org", []string{"x@elsewhere.example"}, strings.NewReader("Subject: w\r\n\r\nhi\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	c.Quit()
	var until time.Time
	waitCond(t, "the destination dead", 30*time.Second, func() bool {
		out, _ := cli(t, cfg, "queue", "destinations", "--json")
		var ds []queue.DestinationInfo
		if json.Unmarshal([]byte(out), &ds) != nil {
			return false
		}
		for _, d := range ds {
			if d.Queue == "smarthost:sink" && d.State == "dead" {
				until = d.DeadUntil
				return true
			}
		}
		return false
	})
	waitCond(t, "the deferrals", 30*time.Second, func() bool {
		out, _ := cli(t, cfg, "message", "list", "--json")
		var ms []struct {
			State string `json:"state"`
		}
		if json.Unmarshal([]byte(out), &ms) != nil || len(ms) != 3 {
			return false
		}
		for _, m := range ms {
			if m.State != "retry" {
				return false
			}
		}
		return true
	})
	if out, code := cli(t, cfg, "queue", "suspend", "smarthost:sink"); code != 0 {
		t.Fatalf("suspend: exit %d %s", code, out)
	}
	out, code := cli(t, cfg, "queue", "resume", "smarthost:sink")
	when := until.Local().Format(time.TimeOnly)
	if code != 0 || strings.Contains(out, "due now") || !strings.Contains(out, "3 messages") || !strings.Contains(out, when) ||
		!strings.Contains(out, "cool-down") {
		t.Errorf("queue resume behind a destination dead until %s: exit %d %q, want the 3 messages due at the cool-down's end, with its time", when, code, out)
	}
	if out, code := cli(t, cfg, "queue", "suspend", "smarthost:sink"); code != 0 {
		t.Fatalf("suspend: exit %d %s", code, out)
	}
	out, code = cli(t, cfg, "queue", "resume", "smarthost:sink", "--json")
	var v struct {
		DueAt time.Time `json:"due_at"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil || !v.DueAt.Equal(until) {
		t.Errorf("queue resume --json behind a dead destination: exit %d %q, want due_at %v", code, out, until)
	}
}
