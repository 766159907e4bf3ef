package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// cfgcheck49 (OPS-, README "Reloads"): `umbra config check` said "ok"
// for a file the SIGHUP reload then refused: the reload compares the
// file with the running state (the running server.postmaster, the
// running topology's mailbox databases, the running server's name in
// the topology, directories moved), which a check of the file alone
// cannot. config check asks the daemon its admin socket reaches for a
// dry run of those comparisons — nothing applied, no listener bound —
// and prints each refusal at file:line in the reload's words; with no
// daemon answering, it says the file was checked alone.
func TestConfigCheckAsksTheRunningDaemon(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.162")
	sound := umbraTestHub(dir, "transport:\n  retry_schedule: [1h]\n", listen, "submit", "", "internet", "", "")
	cfg := writeConfig(t, dir, sound)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()

	check := func(args ...string) (string, string, error) {
		t.Helper()
		cmd := exec.Command(umbraBin, append([]string{"config", "check"}, args...)...)
		cmd.Env = append(os.Environ(), "UMBRA_SOCKET=", "UMBRA_CONFIG=")
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		return out.String(), errb.String(), err
	}

	// A sound file: ok, and said to be checked against the running server.
	out, errOut, err := check(cfg)
	if err != nil || !strings.Contains(out, "ok (checked against the running server") {
		t.Fatalf("config check of the running file: err %v\nstdout:\n%s\nstderr:\n%s\nwant \"ok (checked against the running server\"", err, out, errOut)
	}

	// The running postmaster (derived: postmaster@umbra.test) left
	// outside the file's accepted domains: the reload refuses it.
	refused := strings.Replace(sound, "domain: umbra.test", "domain: other.test", 1)
	if err := os.WriteFile(cfg, []byte(refused), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, err = check(cfg)
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() == 0 || strings.Contains(out, ": ok (") {
		t.Fatalf("config check of a file the reload refuses: err %v\nstdout:\n%s\nstderr:\n%s\nwant a refusal, exit non-zero", err, out, errOut)
	}
	var line string
	for _, l := range strings.Split(errOut, "\n") {
		if strings.Contains(l, "the running server.postmaster") {
			line = l
		}
	}
	if !strings.HasPrefix(line, cfg+":") || !strings.Contains(line, "accepted_domains:") {
		t.Fatalf("config check's refusal is not at %s:LINE naming accepted_domains:\n%s", cfg, errOut)
	}
	// The reload refuses it with the same words.
	_, msg, _ := strings.Cut(strings.TrimPrefix(line, cfg+":"), ": ")
	d.hup()
	waitCond(t, "the reload's outcome in the log", 10*time.Second, func() bool {
		b, _ := os.ReadFile(d.log)
		return reloadOutcome(string(b))
	})
	failed := logLinesWith(d, "reload failed")
	if len(failed) != 1 || !strings.Contains(failed[0], firstWords(msg, 12)) {
		t.Fatalf("the reload's refusal %q does not say config check's %q", failed, msg)
	}

	// --offline: the file alone on purpose, the running state not asked.
	out, errOut, err = check("--offline", cfg)
	if err != nil || !strings.Contains(out, "checked alone") {
		t.Fatalf("config check --offline: err %v\nstdout:\n%s\nstderr:\n%s\nwant ok, checked alone", err, out, errOut)
	}

	// A relative name is the same file for the daemon.
	if err := os.WriteFile(cfg, []byte(sound), 0o600); err != nil {
		t.Fatal(err)
	}
	rel := exec.Command(umbraBin, "config", "check", filepath.Base(cfg))
	rel.Dir = filepath.Dir(cfg)
	rel.Env = append(os.Environ(), "UMBRA_SOCKET=", "UMBRA_CONFIG=")
	if b, err := rel.CombinedOutput(); err != nil || !strings.Contains(string(b), "ok (checked against the running server") {
		t.Fatalf("config check of a relative name: %v\n%s", err, b)
	}

	// The daemon stopped: the file is checked alone, and said so.
	d.kill()
	out, errOut, err = check(cfg)
	if err != nil || !strings.Contains(out, ": ok (") || !strings.Contains(out, "checked alone") ||
		!strings.Contains(out, "reload-time comparisons") {
		t.Fatalf("config check with no daemon: err %v\nstdout:\n%s\nstderr:\n%s\nwant ok and the checked-alone line", err, out, errOut)
	}
}

// firstWords is s's first n words.
func firstWords(s string, n int) string {
	f := strings.Fields(s)
	if len(f) > n {
		f = f[:n]
	}
	return strings.Join(f, " ")
}
