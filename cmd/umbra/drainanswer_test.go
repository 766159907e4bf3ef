package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"umbra/internal/admin"
)

// During the drain after SIGTERM no delivery attempt starts: the queue
// and message commands that make messages due must say they go at the
// next start, not "due now" (they used to). A delivery the next hop
// answers only slowly holds the drain open; a message waits in a
// suspended queue. Before the stop the same commands say "due now".
func TestQueueCommandsDuringDrainSayNextStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	r, reached := startSlowReplySink(t, sinkAddr, 30*time.Second)
	cfg := relayConfig(t, dir, listen, sinkAddr)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	if ok, err := send(listen, "drain-in-delivery"); !ok || err != nil {
		t.Fatalf("not acknowledged: %v %v", ok, err)
	}
	select {
	case <-reached: // the delivery waits for its reply: the drain will wait for it
	case <-time.After(30 * time.Second):
		t.Fatal("the message never reached the next hop")
	}
	const q = "smarthost:sink"
	if out, code := cli(t, cfg, "queue", "suspend", q); code != 0 {
		t.Fatalf("suspend: exit %d %s", code, out)
	}
	if ok, err := send(listen, "drain-waiting"); !ok || err != nil {
		t.Fatalf("not acknowledged: %v %v", ok, err)
	}
	if out, code := cli(t, cfg, "queue", "flush"); code != 0 || !strings.Contains(out, "due now") {
		t.Fatalf("flush before the stop: exit %d %q, want due now", code, out)
	}
	var ms []admin.MessageView
	out, _ := cli(t, cfg, "message", "list", "--json", "--queue", q)
	// The waiting message, and the one in its first attempt through
	// the queue (listed in it too: rt32 F10).
	if err := json.Unmarshal([]byte(out), &ms); err != nil || len(ms) != 2 || ms[0].State != "active" || ms[1].State != "held" {
		t.Fatalf("message list --queue %s: %s (%v), want the message in delivery and the waiting one", q, out, err)
	}

	d.cmd.Process.Signal(syscall.SIGTERM)
	waitLogCount(t, d, "draining:", 1)
	for _, args := range [][]string{{"queue", "resume", q}, {"queue", "retry", q}, {"queue", "flush"}} {
		out, code := cli(t, cfg, args...)
		if code != 0 || strings.Contains(out, "due now") || !strings.Contains(out, "due at the next start") {
			t.Fatalf("%s during the drain: exit %d %q, want due at the next start", strings.Join(args, " "), code, out)
		}
	}
	// A second flush moves nothing: its count is of what it moved, and
	// it must not read as "nothing is due then" (rt38 F3). queue list
	// shows no negative next retry, and says the daemon stops.
	if out, code := cli(t, cfg, "queue", "flush"); code != 0 || !strings.Contains(out, "0 messages rescheduled by this command") ||
		!strings.Contains(out, "every message already due are due at the next start") {
		t.Fatalf("a second flush during the drain: exit %d %q", code, out)
	}
	if out, errOut, code := umbraIn(t, dir, nil, "-c", cfg, "queue", "list"); code != 0 || regexp.MustCompile(`\s-[0-9]`).MatchString(out) ||
		!strings.Contains(out, "next start") || !strings.Contains(errOut, "umbra is stopping") {
		t.Fatalf("queue list during the drain: exit %d %q %q, want next start and a note", code, out, errOut)
	}
	out, code := cli(t, cfg, "queue", "retry", q, "--json")
	var v map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil || code != 0 || v["at_next_start"] != true {
		t.Fatalf("queue retry --json during the drain: exit %d %s (%v), want at_next_start", code, out, err)
	}
	out, errOut, code := umbraIn(t, dir, nil, "-c", cfg, "message", "retry", ms[1].ID) // the waiting one
	if code != 0 || !strings.Contains(errOut, "umbra is stopping") {
		t.Fatalf("message retry during the drain: exit %d %q %q, want a note that it goes at the next start", code, out, errOut)
	}
	select {
	case <-d.done:
		d.done <- nil
	case <-time.After(60 * time.Second):
		t.Fatal("umbra did not stop after SIGTERM")
	}
	if n := r.counts()["drain-waiting"]; n != 0 {
		t.Fatalf("the waiting message went %d times during the drain", n)
	}
}
