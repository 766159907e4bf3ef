package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"umbra/internal/tracking"
)

// rt21c M3: a bulk command cut by kill -9 of the daemon is audited with
// what its commits did. The command's tally goes with its commits; the
// next start writes its `admin` line from it — who asked, the action,
// of how many selected, the messages its commits changed, those it left
// as they were and those it did not reach — and those counts are what
// the daemon holds. A real daemon killed with SIGKILL
// after the command's first batch answered, and started again.
func TestBulkCommandKilledDaemonIsAudited(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	listen, sink := freeAddr(t, "127.0.0.1"), reserveAddr(t, "127.0.0.1")
	cfg := slowRetryConfig(t, dir, listen, sink)
	d := startUmbra(t, cfg, listen)
	const n = 1000 // a batch each (below): the kill comes long before the last
	sendAll(t, d, listen, "killed", n, 4)
	if out, code := cli(t, cfg, "queue", "suspend", "smarthost:sink"); code != 0 {
		t.Fatalf("queue suspend: exit %d %q", code, out)
	}
	waitNoneInDelivery(t, cfg)
	cmd := exec.Command(umbraBin, "--config", cfg, "message", "suspend", "--all")
	// One message a batch, each answered within the default wait: a
	// 400 ms wait that drove 100 ms batches could pass on a loaded
	// machine before the first answer.
	cmd.Env = append(cmd.Environ(), "UMBRA_ADMIN_BATCH_TIME=1ns")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stderr)
	if !lines.Scan() || !strings.HasPrefix(lines.Text(), "suspend: so far ") {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("no progress line before the end: %q", lines.Text())
	}
	d.kill() // SIGKILL: no line written at a stop
	for lines.Scan() {
	}
	timer := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
	cmd.Wait()
	timer.Stop()

	d = startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	out, code := cli(t, cfg, "message", "list", "--state", "suspended", "--json", "--limit", "10000")
	var held []struct{ ID string }
	if code != 0 || json.Unmarshal([]byte(out), &held) != nil {
		t.Fatalf("message list: exit %d %.300q", code, out)
	}
	if len(held) == 0 || len(held) >= n {
		t.Fatalf("%d of %d suspended after the kill: the kill did not cut the command", len(held), n)
	}
	out, code = cli(t, cfg, "track", "--json", "--event", "admin", "--since", "1h")
	if code != 0 {
		t.Fatalf("track: exit %d %q", code, out)
	}
	var es []tracking.Entry
	if err := json.Unmarshal([]byte(out), &es); err != nil {
		t.Fatalf("track: %v\n%s", err, out)
	}
	var found []string
	for _, e := range es {
		if e.Action != "message suspend" {
			continue
		}
		l := fmt.Sprintf("%s by %s: %s", e.Action, e.Actor, e.Reply)
		found = append(found, l)
		// Every message selected was suspendable: none left as it
		// was, and those not suspended were not reached (ops24 3).
		want := fmt.Sprintf(" had, of %d selected, %d done in its commits, 0 left as they were (already in that state, or not for this action), %d not reached",
			n, len(held), n-len(held))
		if !strings.HasPrefix(e.Reply, "cut short by a stop of the daemon") || !strings.Contains(e.Reply, want) || e.Actor == "" || e.Actor == "unknown" {
			t.Errorf("audit line %s; want the stop's line with %q and who asked", l, want)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d `message suspend` audit lines after the restart, want 1: %q", len(found), out)
	}
	t.Logf("killed after %d of %d suspended: %s", len(held), n, found[0])
}
