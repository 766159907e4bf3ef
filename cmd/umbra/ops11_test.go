package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// ops11Run runs umbra with args and returns its standard output, its
// error stream and exit status.
func ops11Run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(umbraBin, args...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), errOut.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errOut.String(), 0
}

func ops11Config(t *testing.T, extra string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "umbra.yaml")
	y := "server: {name: hub.ops.test, data_dir: " + filepath.Join(dir, "data") + "}\n" +
		"receive_connectors: [{name: x, bindings: [\"127.0.0.1:0\"]}]\n" + extra
	if err := os.WriteFile(cfg, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// rt45 F6: route explain quoted a refused recipient with Go's %q, so ESC
// showed as \x1b, which by the one escape rule reads as a byte that is
// not UTF-8; every other answer shows it \u001b.
func TestRouteExplainEscapesByTheRule(t *testing.T) {
	cfg := ops11Config(t, "")
	_, errOut, code := ops11Run(t, "route", "explain", "--config", cfg, "a\x1b[31mb@sink.test")
	if code != exitUsage || !strings.Contains(errOut, `a\u001b[31mb@sink.test`) || strings.Contains(errOut, `\x1b`) {
		t.Errorf("exit %d\n%s", code, errOut)
	}
	_, errOut, code = ops11Run(t, "route", "explain", "--config", cfg, "a\xe9b@sink.test")
	if code != exitUsage || !strings.Contains(errOut, `a\xe9b@sink.test`) {
		t.Errorf("exit %d\n%s", code, errOut)
	}
}

// The sibling: --server named by the same rule.
func TestRouteExplainServerEscapesByTheRule(t *testing.T) {
	cfg := ops11Config(t, "")
	_, errOut, code := ops11Run(t, "route", "explain", "--config", cfg, "--server", "h\x1bx", "a@sink.test")
	if code != exitNotFound || !strings.Contains(errOut, `server "h\u001bx"`) {
		t.Errorf("exit %d\n%s", code, errOut)
	}
}
