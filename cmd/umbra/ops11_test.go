package main

import (
	"encoding/json"
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

// rt45 F2 end to end: config check and serve refuse a tracking log that
// is the transport database, at its line, before anything is written.
func TestTrackingLogOverTheDatabaseRefused(t *testing.T) {
	cfg := ops11Config(t, "tracking:\n  path: queue.db\n  max_size: 70KiB\n")
	data := filepath.Join(filepath.Dir(cfg), "data")
	os.MkdirAll(data, 0o700)
	out, errOut, code := ops11Run(t, "config", "check", cfg)
	if code != exitConfig || !strings.Contains(out+errOut, "umbra.yaml:4: tracking.path "+filepath.Join(data, "queue.db")+" is the transport database") {
		t.Errorf("config check: exit %d\n%s", code, out)
	}
	_, errOut, code = ops11Run(t, "serve", "--config", cfg)
	if code == 0 || !strings.Contains(errOut, "umbra.yaml:4: tracking.path") {
		t.Errorf("serve: exit %d\n%s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(data, "queue.db")); err == nil {
		t.Errorf("serve created the database it refused to start with")
	}
}

// rt45 F7: a topology with two errors, one of the file (an edge server
// in a site without a hub) and one of this server's place in it (its
// role is not server.role), reported only the first; fixing it revealed
// the second. Both come in one run, each at its line.
func TestTopologyErrorsAllInOneRun(t *testing.T) {
	cfg := ops11Config(t, "topology: t.yaml\n")
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(b), "server: {name: hub.ops.test,", "server: {name: hub.ops.test, role: hub,", 1)), 0o600)
	topo := `sites:
  - name: alpha
    subnets: ["127.0.0.0/24"]
servers:
  - {name: hub.ops.test, role: edge, site: alpha, address: "127.0.0.1:25"}
`
	os.WriteFile(filepath.Join(filepath.Dir(cfg), "t.yaml"), []byte(topo), 0o600)
	out, errOut, code := ops11Run(t, "config", "check", cfg)
	all := out + errOut
	if code != exitConfig || !strings.Contains(all, `t.yaml:5: edge server "hub.ops.test" is in site "alpha", which has no hub to relay to`) ||
		!strings.Contains(all, `t.yaml:5: the topology gives server "hub.ops.test" the role edge, but its server.role is hub`) {
		t.Errorf("exit %d\n%s", code, all)
	}
}

// rt45 F7: `--json db restore` printed its refusal as plain text only.
// Every command given --json answers a refusal with a JSON object on
// standard output too ("error", "exit"; the text stays on stderr), with
// the same exit status: an offline command, one that asks a daemon that
// is not running, a usage error; a command that printed its own JSON
// verdict (config check, db verify) prints nothing more.
func TestJSONRefusalsAreJSON(t *testing.T) {
	cfg := ops11Config(t, "")
	dir := filepath.Dir(cfg)
	for _, args := range [][]string{
		{"db", "restore", filepath.Join(dir, "missing.db")},
		{"db", "backup", cfg},
		{"db", "verify", filepath.Join(dir, "missing.db")},
		{"message", "list"},
		{"queue", "list"},
		{"message", "list", "--limit", "0"},
		{"route", "explain", "not an address"},
		{"dumpster", "resubmit", "--database", "x"},
		{"config", "check", filepath.Join(dir, "missing.yaml")},
		{"track", "--since", "yesterday"},
	} {
		out, errOut, code := ops11Run(t, append([]string{"--json", "--config", cfg}, args...)...)
		var v map[string]any
		if code == 0 || json.Unmarshal([]byte(out), &v) != nil || len(v) == 0 {
			t.Errorf("--json %v: exit %d, stdout %q (stderr %q)", args, code, out, errOut)
			continue
		}
		if _, ok := v["exit"]; ok && (v["exit"] != float64(code) || v["error"] == "") {
			t.Errorf("--json %v: exit %d, %v", args, code, v)
		}
	}
}
