package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// rt24c F8 (OPS-3): route explain against a topology that does not hold
// this server — --topology FILE with a daemon answering, or the
// configuration's topology with none — runs serve's and a reload's
// checks of this server first and refuses as they do: exit 2, the
// refusal at its line of the configuration (config check's words), not
// exit 3 as if --server had named an unknown server.
func TestRouteExplainTopologyWithoutThisServer(t *testing.T) {
	dir := t.TempDir()
	hubAddr, legacyAddr := freeAddr(t, "127.0.0.181"), freeAddr(t, "127.0.0.181")
	topo := filepath.Join(dir, "topology.yaml")
	if err := os.WriteFile(topo, []byte(legacyTopology(hubAddr, legacyAddr, "", "alice@old.test")), 0o600); err != nil {
		t.Fatal(err)
	}
	// The same topology with the hub under another name: this server is not in it.
	other := filepath.Join(dir, "other.yaml")
	if err := os.WriteFile(other, []byte(strings.ReplaceAll(legacyTopology(hubAddr, legacyAddr, "", "alice@old.test"), "hub.topo.test", "hub2.topo.test")), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := topoHub(t, dir, hubAddr, "1h", topo)
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
	refusal := cfg + `:1: server.name "hub.topo.test" is not a server of the topology ` + other
	check := func(how string, args ...string) {
		t.Helper()
		out, errOut, code := run(args...)
		if code != exitConfig || !strings.Contains(errOut, refusal) {
			t.Errorf("%s: exit %d, want %d with %q\n%s%s", how, code, exitConfig, refusal, out, errOut)
		}
	}

	// No daemon: --topology FILE, and the configuration's own topology.
	check("route explain --topology (no daemon)", "route", "explain", "--config", cfg, "--topology", other, "alice@old.test")
	cfg2 := filepath.Join(dir, "hub2.yaml")
	b, _ := os.ReadFile(cfg)
	if err := os.WriteFile(cfg2, []byte(strings.Replace(string(b), "topology: "+topo, "topology: "+other, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	refusal = cfg2 + `:1: server.name "hub.topo.test" is not a server of the topology ` + other
	check("route explain -c (no daemon, its topology without this server)", "route", "explain", "--config", cfg2, "alice@old.test")
	if out, errOut, code := run("config", "check", cfg2); code != exitConfig || !strings.Contains(out+errOut, refusal) {
		t.Errorf("config check: exit %d, want %d with %q\n%s%s", code, exitConfig, refusal, out, errOut)
	}

	// A daemon answers: --topology FILE is checked as its reload would.
	d := startUmbra(t, cfg, hubAddr)
	d.dumpLogIfFailed()
	sock := filepath.Join(dir, "data", "admin.sock")
	refusal = cfg + `:1: server.name "hub.topo.test" is not a server of the topology ` + other
	check("route explain --socket --topology", "route", "explain", "--socket", sock, "--topology", other, "alice@old.test")

	// --server naming a server the topology lacks is still exit 3.
	if out, errOut, code := run("route", "explain", "--socket", sock, "--topology", topo, "--server", "nosuch.topo.test", "alice@old.test"); code != exitNotFound {
		t.Errorf("--server of an unknown server: exit %d, want %d\n%s%s", code, exitNotFound, out, errOut)
	}
}
