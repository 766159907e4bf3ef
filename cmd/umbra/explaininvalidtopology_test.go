package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rt21d M5 (RT-11, OPS-3): the shared topology file edited into one that does not
// validate while the daemon runs (a reload refuses it and keeps the
// loaded one). route explain asked of that daemon explains the routing
// it runs, exit 0, and warns that the next reload would fail, with the
// file's errors at their lines (stderr; next_reload_errors in --json).
// Without a daemon, or with --topology naming the file, the file is
// checked and refused as before (exit 2, file:line).
func TestRouteExplainDaemonWithInvalidTopologyOnDisk(t *testing.T) {
	dir := t.TempDir()
	hubAddr, legacyAddr := freeAddr(t, "127.0.0.180"), reserveAddr(t, "127.0.0.181")
	topo := filepath.Join(dir, "topology.yaml")
	if err := os.WriteFile(topo, []byte(legacyTopology(hubAddr, legacyAddr, "\n    cost: 3", "alice@old.test")), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := topoHub(t, dir, hubAddr, "1h", topo)
	d := startUmbra(t, cfg, hubAddr)
	d.dumpLogIfFailed()
	sock := filepath.Join(dir, "data", "admin.sock")

	// A typo in the shared file: the hub's site. A reload refuses it.
	editConfig(t, topo, "{name: hub.topo.test, role: hub, site: a,", "{name: hub.topo.test, role: hub, site: aa,")
	d.hup()
	waitCond(t, "the refused reload", 30*time.Second, func() bool {
		b, _ := os.ReadFile(d.log)
		return strings.Contains(string(b), "reload failed")
	})
	badLine := topo + ":3:"
	run := func(args ...string) (string, string, int) {
		t.Helper()
		cmd := exec.Command(umbraBin, args...)
		cmd.Env = append(os.Environ(), "UMBRA_SOCKET=")
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			return stdout.String(), stderr.String(), ee.ExitCode()
		case err != nil:
			t.Fatal(err)
		}
		return stdout.String(), stderr.String(), 0
	}

	for _, how := range [][]string{{"--socket", sock}, {"--config", cfg}} {
		out, errOut, code := run(append(append([]string{"route", "explain"}, how...), "alice@old.test")...)
		if code != 0 || !strings.Contains(out, "to-rg1") {
			t.Fatalf("route explain %s with the daemon running and the topology on disk invalid: exit %d\n%s%s", how[0], code, out, errOut)
		}
		if !strings.Contains(errOut, "the next reload would fail") || !strings.Contains(errOut, badLine) {
			t.Errorf("route explain %s does not warn of the file's errors at their lines:\n%s", how[0], errOut)
		}
		out, errOut, code = run(append(append([]string{"route", "explain", "--json"}, how...), "alice@old.test")...)
		var ex struct {
			Routes           []json.RawMessage `json:"routes"`
			NextReloadErrors []string          `json:"next_reload_errors"`
		}
		if err := json.Unmarshal([]byte(out), &ex); code != 0 || err != nil || len(ex.Routes) != 1 {
			t.Fatalf("route explain --json %s: exit %d, %v\n%s%s", how[0], code, err, out, errOut)
		}
		if len(ex.NextReloadErrors) == 0 || !strings.HasPrefix(ex.NextReloadErrors[0], badLine) {
			t.Errorf("route explain --json %s: next_reload_errors %q, want the file's errors from %s", how[0], ex.NextReloadErrors, badLine)
		}
	}

	// --topology names the file: that file is explained, so checked.
	out, errOut, code := run("route", "explain", "--socket", sock, "--topology", topo, "alice@old.test")
	if code != exitConfig || !strings.Contains(errOut, badLine) {
		t.Errorf("route explain --topology of the invalid file: exit %d, want %d naming %s\n%s%s", code, exitConfig, badLine, out, errOut)
	}

	// The file fixed: nothing to warn of.
	editConfig(t, topo, "site: aa,", "site: a,")
	out, errOut, code = run("route", "explain", "--socket", sock, "alice@old.test")
	if code != 0 || strings.Contains(errOut, "reload") {
		t.Errorf("route explain with the file valid again: exit %d\n%s%s", code, out, errOut)
	}

	// No daemon: the file is what is explained, and it is refused.
	editConfig(t, topo, "site: a,", "site: aa,")
	d.kill()
	out, errOut, code = run("route", "explain", "--config", cfg, "alice@old.test")
	if code != exitConfig || !strings.Contains(errOut, badLine) {
		t.Errorf("route explain without the daemon, the topology invalid: exit %d, want %d naming %s\n%s%s", code, exitConfig, badLine, out, errOut)
	}
}
