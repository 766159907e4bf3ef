package main

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"umbra/internal/admin"
	"umbra/internal/queue"
)

// cliEnv is cli with extra environment and standard error kept apart.
func cliEnv(t testing.TB, cfg string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(umbraBin, append([]string{"--config", cfg}, args...)...)
	cmd.Env = append(cmd.Environ(), env...)
	var se strings.Builder
	cmd.Stderr = &se
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), se.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), se.String(), 0
}

// A bulk action on more messages than the CLI's wait for one answer
// allows is done in batches, each answered within the wait, to the end,
// with exact totals (OPS-5, rt16c F2). The wait is shortened
// (UMBRA_ADMIN_TIMEOUT) so that a modest queue passes it: in one request
// the removal of every message cannot be answered in time.
func TestBulkActionOutlastsTheWait(t *testing.T) {
	dir := t.TempDir()
	listen, sink := freeAddr(t, "127.0.0.1"), reserveAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sink) // the smart host is down: the messages wait
	d := startUmbra(t, cfg, listen)
	const n = 400
	sendAll(t, d, listen, "bulk", n, 4)
	if out, code := cli(t, cfg, "queue", "suspend", "smarthost:sink"); code != 0 {
		t.Fatalf("queue suspend: exit %d %q", code, out)
	}
	wait := []string{"UMBRA_ADMIN_TIMEOUT=100ms"}

	// A dry run and a suspension of every message: nothing goes, every
	// message is counted once.
	out, _, code := cliEnv(t, cfg, wait, "message", "remove", "--all", "--dry-run", "--json")
	var res admin.BulkResult
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.Matched != n || len(res.Done) != n {
		t.Fatalf("remove --all --dry-run: exit %d, %d matched, %d done: %.300q", code, res.Matched, len(res.Done), out)
	}
	out, stderr, code := cliEnv(t, cfg, wait, "message", "suspend", "--all")
	if code != 0 || !strings.Contains(out, "400 messages matched, 400 suspend, 0 failed") {
		t.Fatalf("suspend --all: exit %d %.300q %.300q", code, out, stderr)
	}
	seen := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if id, ok := strings.CutSuffix(l, ": suspend"); ok {
			if seen[id] {
				t.Fatalf("%s suspended twice", id)
			}
			seen[id] = true
		}
	}
	if len(seen) != n {
		t.Fatalf("%d distinct messages suspended, want %d", len(seen), n)
	}

	out, stderr, code = cliEnv(t, cfg, wait, "message", "remove", "--all")
	if code != 0 || !strings.Contains(out, "400 messages matched, 400 remove, 0 failed") {
		t.Fatalf("remove --all: exit %d %.300q\nstderr %.500q", code, out, stderr)
	}
	t.Logf("progress of remove --all: %d lines", strings.Count(stderr, "remove: so far "))
	out, code = cli(t, cfg, "message", "list", "--json")
	var left []queue.Message
	if code != 0 || json.Unmarshal([]byte(out), &left) != nil || len(left) != 0 {
		t.Fatalf("after remove --all: exit %d, %d left: %.300q", code, len(left), out)
	}
}
