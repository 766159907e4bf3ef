package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// OPS CLI (opsrt40 F5): config check takes $UMBRA_CONFIG as every
// command's -c/--config does ("default: $UMBRA_CONFIG"), when neither
// FILE nor -c is given: it refused "config check needs a file", exit
// 64. A FILE or -c given names the file checked, $UMBRA_CONFIG aside
// (a default, not a second file).
func TestOPSConfigCheckTakesUmbraConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := relayConfig(t, dir, "127.0.0.126:9525", "127.0.0.126:9526")
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("server: {name: bad.test, role: nope}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(env string, args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(umbraBin, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "UMBRA_CONFIG="+env)
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}
	if out, code := run(cfg, "config", "check"); code != 0 || !strings.Contains(out, cfg) {
		t.Errorf("UMBRA_CONFIG=%s config check: exit %d %q, want 0 naming the file", cfg, code, out)
	}
	if out, code := run(bad, "config", "check"); code == 0 || code == exitUsage || !strings.Contains(out, "bad.yaml") {
		t.Errorf("UMBRA_CONFIG=bad.yaml config check: exit %d %q, want the file's errors", code, out)
	}
	if out, code := run(bad, "config", "check", cfg); code != 0 {
		t.Errorf("config check FILE with UMBRA_CONFIG naming another: exit %d %q, want FILE checked", code, out)
	}
	if out, code := run("", "config", "check"); code != exitUsage || !strings.Contains(out, "UMBRA_CONFIG") {
		t.Errorf("no file: exit %d %q, want %d naming $UMBRA_CONFIG among the ways", code, out, exitUsage)
	}
}
