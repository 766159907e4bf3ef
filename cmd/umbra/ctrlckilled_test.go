package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"umbra/internal/tracking"
)

// rt24c F10 (OPS-5, operator actions audited): a bulk command the
// operator stops with Ctrl-C asked for no further batch, and its audit
// line says so — `cut short, no further batch asked for: …` — even when
// the daemon is killed (kill -9, a crash) within the minutes it would
// keep the command's selection: before, the line was written only when
// the selection was forgotten, and a kill before that left the record
// to the next start, which blamed the daemon's stop for the cut
// (`cut short by a stop of the daemon (killed or crashed) before its
// end`). A real CLI given a real SIGINT, a real daemon killed with
// SIGKILL after the CLI ended, and started again.
func TestBulkCommandInterruptedThenDaemonKilledIsAuditedAsInterrupted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	listen, sink := freeAddr(t, "127.0.0.181"), reserveAddr(t, "127.0.0.181")
	cfg := slowRetryConfig(t, dir, listen, sink)
	d := startUmbra(t, cfg, listen)
	const n = 300 // a batch each: the command cannot end before the SIGINT is taken
	sendAll(t, d, listen, "ctrlc", n, 4)
	if out, code := cli(t, cfg, "queue", "suspend", "smarthost:sink"); code != 0 {
		t.Fatalf("queue suspend: exit %d %q", code, out)
	}
	waitNoneInDelivery(t, cfg)
	cmd := exec.Command(umbraBin, "--config", cfg, "message", "suspend", "--all")
	cmd.Env = append(cmd.Environ(), "UMBRA_ADMIN_BATCH_TIME=1ns") // one message a batch
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() }) // a bound on the test
	defer timer.Stop()
	lines := bufio.NewScanner(stderr)
	if !lines.Scan() || !strings.HasPrefix(lines.Text(), "suspend: so far ") {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("no progress line before the end: %q", lines.Text())
	}
	cmd.Process.Signal(syscall.SIGINT)
	var rest []string
	for lines.Scan() {
		rest = append(rest, lines.Text())
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
		t.Fatalf("after SIGINT: %v, want exit %d; stderr: %q", err, exitInterrupted, rest)
	}
	out, code := cli(t, cfg, "message", "list", "--state", "suspended", "--json", "--limit", "10000")
	var held []struct{ ID string }
	if code != 0 || json.Unmarshal([]byte(out), &held) != nil || len(held) == 0 || len(held) >= n {
		t.Fatalf("suspended after the SIGINT: exit %d, %d of %d", code, len(held), n)
	}

	d.kill() // SIGKILL, long before the daemon would forget the selection
	d = startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	var es []tracking.Entry
	out, code = cli(t, cfg, "track", "--json", "--event", "admin", "--since", "1h")
	if code != 0 || json.Unmarshal([]byte(out), &es) != nil {
		t.Fatalf("track: exit %d %.300q", code, out)
	}
	var found []string
	for _, e := range es {
		if e.Action != "message suspend" {
			continue
		}
		found = append(found, e.Reply)
		want := fmt.Sprintf("%d of %d selected done", len(held), n)
		if !strings.HasPrefix(e.Reply, "cut short, no further batch asked for: ") || !strings.Contains(e.Reply, want) {
			t.Errorf("audit line %q; want `cut short, no further batch asked for: …` with %q", e.Reply, want)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d `message suspend` audit lines, want 1: %q", len(found), found)
	}
}
