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
)

// rt17e-F4: Ctrl-C of a bulk command stops it cleanly: no further batch
// is asked for, the batch in flight is waited for and counted, and the
// command ends with the exact totals of what was done — `before that:
// N messages matched, N suspend, …; run the command again for the
// rest` — exit 130. The daemon's count of suspended messages is that N.
// A real daemon, a real SIGINT to the CLI process (OPS-5).
//
// Synchronised on events, not on time (it failed under load when a
// 100 ms wait for one answer drove the batches): the wait is the
// default, each batch does one message (UMBRA_ADMIN_BATCH_TIME=1ns), so
// that the command runs as many batches as messages; the SIGINT goes
// after the first progress line, with the daemon stopped (SIGSTOP), so
// that the batch then in flight cannot end before the CLI has taken
// the interruption — its `interrupted:` line, written once no further
// batch will be asked for — and is then let go (SIGCONT) and counted.
func TestBulkCommandInterruptedPrintsWhatWasDone(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	listen, sink := freeAddr(t, "127.0.0.1"), reserveAddr(t, "127.0.0.1")
	cfg := slowRetryConfig(t, dir, listen, sink)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	const n = 1000 // a batch each: the command cannot end before the SIGINT is taken
	sendAll(t, d, listen, "intr", n, 4)
	if out, code := cli(t, cfg, "queue", "suspend", "smarthost:sink"); code != 0 {
		t.Fatalf("queue suspend: exit %d %q", code, out)
	}
	waitNoneInDelivery(t, cfg)
	cmd := exec.Command(umbraBin, "--config", cfg, "message", "suspend", "--all")
	cmd.Env = append(cmd.Environ(), "UMBRA_ADMIN_BATCH_TIME=1ns") // one message a batch
	var stdout strings.Builder
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Whatever happens, the daemon runs again and the CLI ends.
	timer := time.AfterFunc(2*time.Minute, func() {
		d.cmd.Process.Signal(syscall.SIGCONT)
		cmd.Process.Kill()
	})
	defer timer.Stop()
	defer d.cmd.Process.Signal(syscall.SIGCONT)
	lines := bufio.NewScanner(stderr)
	if !lines.Scan() || !strings.HasPrefix(lines.Text(), "suspend: so far ") {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("no progress line before the end: %q", lines.Text())
	}
	if err := d.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Signal(syscall.SIGINT)
	var rest []string
	for lines.Scan() {
		rest = append(rest, lines.Text())
		if strings.HasPrefix(lines.Text(), "suspend: interrupted: waiting for the batch in flight") {
			break
		}
	}
	// No further batch will be asked for: the one in flight may end.
	if err := d.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	for lines.Scan() {
		rest = append(rest, lines.Text())
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
		t.Fatalf("after SIGINT: %v, want exit %d; stderr after the first progress line: %q", err, exitInterrupted, rest)
	}
	all := strings.Join(rest, "\n")
	i := strings.Index(all, "before that: ")
	var matched, done, failed int
	if i < 0 {
		t.Fatalf("no totals after SIGINT: %q", all)
	}
	if k, _ := fmt.Sscanf(all[i:], "before that: %d messages matched, %d suspend, %d failed", &matched, &done, &failed); k != 3 ||
		!strings.Contains(all, "run the command again for the rest") {
		t.Fatalf("totals after SIGINT: %q", all)
	}
	out, code := cli(t, cfg, "message", "list", "--state", "suspended", "--json", "--limit", "10000") // more than the default 1,000
	var held []struct{ ID string }
	if code != 0 || json.Unmarshal([]byte(out), &held) != nil {
		t.Fatalf("message list: exit %d %.300q", code, out)
	}
	if done != len(held) || done == 0 || done >= n || failed != 0 {
		t.Errorf("the command said %d suspended (%d matched, %d failed); the daemon holds %d suspended of %d", done, matched, failed, len(held), n)
	}
	// fixd19: the ids the answered batches changed are on standard
	// output, one `ID: suspend` line each, as an uninterrupted run
	// prints them — not only the totals on standard error.
	isHeld := map[string]bool{}
	for _, m := range held {
		isHeld[m.ID] = true
	}
	printed := 0
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		id, ok := strings.CutSuffix(line, ": suspend")
		if !ok {
			continue
		}
		printed++
		if !isHeld[id] {
			t.Errorf("stdout names %s suspended; the daemon does not hold it suspended", id)
		}
	}
	if printed != done {
		t.Errorf("stdout has %d `ID: suspend` lines; the command said %d suspended: %.300q", printed, done, stdout.String())
	}
	t.Logf("interrupted after %d of %d: %q", done, n, all)
}
