package main

import (
	"encoding/json"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"umbra/internal/backpressure"
	"umbra/internal/metrics"
	"umbra/internal/queue"
	"umbra/internal/tracking"
)

// The systemd units pass systemd-analyze verify and keep an exposure
// score that systemd calls OK (the threshold is in tenths: 20 is 2.0).
func TestSystemdUnits(t *testing.T) {
	analyze := needTool(t, "systemd-analyze")
	for _, role := range []string{"hub", "edge"} {
		b, err := os.ReadFile("../../deploy/umbra-" + role + ".service")
		if err != nil {
			t.Fatal(err)
		}
		unit := filepath.Join(t.TempDir(), "umbra-"+role+".service")
		os.WriteFile(unit, []byte(strings.ReplaceAll(string(b), "/usr/bin/umbra", umbraBin)), 0o644)
		if out, err := exec.Command(analyze, "verify", unit).CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("systemd-analyze verify %s: %v\n%s", role, err, out)
		}
		out, err := exec.Command(analyze, "security", "--offline=yes", "--threshold=20", unit).CombinedOutput()
		if err != nil {
			t.Errorf("exposure of the %s unit above 2.0: %v\n%s", role, err, out)
		}
		for _, d := range []string{"Type=notify", "User=umbra", "AmbientCapabilities=CAP_NET_BIND_SERVICE", "StateDirectory=umbra",
			"RuntimeDirectory=umbra", "ExecReload=/bin/kill -HUP $MAINPID", "KillSignal=SIGTERM"} {
			if !strings.Contains(string(b), d+"\n") {
				t.Errorf("%s unit lacks %s", role, d)
			}
		}
	}
}

func TestMakeInstallDESTDIR(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make not installed")
	}
	dest := t.TempDir()
	cmd := exec.Command("make", "-C", "../..", "install", "DESTDIR="+dest, "BIN="+umbraBin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	for _, f := range []string{"usr/bin/umbra", "lib/systemd/system/umbra-hub.service", "lib/systemd/system/umbra-edge.service",
		"etc/umbra/hub.yaml", "etc/umbra/edge.yaml", "usr/lib/sysusers.d/umbra.conf", "usr/share/umbra/prometheus-rules.yaml",
		"usr/share/umbra/grafana-dashboard.json", "usr/share/doc/umbra/README.md"} {
		if _, err := os.Stat(filepath.Join(dest, f)); err != nil {
			t.Errorf("not installed: %s", f)
		}
	}
	// An existing configuration is never overwritten.
	os.WriteFile(filepath.Join(dest, "etc/umbra/hub.yaml"), []byte("# mine\n"), 0o640)
	exec.Command("make", "-C", "../..", "install", "DESTDIR="+dest, "BIN="+umbraBin).Run()
	if b, _ := os.ReadFile(filepath.Join(dest, "etc/umbra/hub.yaml")); string(b) != "# mine\n" {
		t.Error("make install overwrote /etc/umbra/hub.yaml")
	}
}

// Every umbra metric the alert rules, the dashboard and the README name
// exists, so none of them silently watches nothing.
func TestMonitoringNamesExistingMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	metrics.New(reg).RegisterOps(reg, "test")
	metrics.RegisterSuspended(reg, func() []string { return nil })
	metrics.RegisterQueues(reg, func() ([]queue.QueueStats, error) { return nil, nil })
	metrics.RegisterDumpster(reg, func() (map[string]queue.DumpsterStat, error) { return nil, nil })
	backpressure.New(nil, slog.New(slog.DiscardHandler), reg)
	registerRetention(reg, func() int { return 0 })
	tl, err := tracking.Open(filepath.Join(t.TempDir(), "tracking.log"), 1<<20, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	tl.Register(reg)
	known := map[string]bool{}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		known[mf.GetName()] = true
	}
	// Vectors without observations are not gathered: list them by description.
	ch := make(chan *prometheus.Desc, 100)
	go func() { prometheus.Collector(reg).Describe(ch); close(ch) }()
	descName := regexp.MustCompile(`fqName: "([^"]+)"`)
	for d := range ch {
		if m := descName.FindStringSubmatch(d.String()); m != nil {
			known[m[1]] = true
		}
	}
	ref := regexp.MustCompile(`umbra_[a-z]+_[a-z_]+`) // umbra_<subsystem>_<name>
	for _, f := range []string{"../../deploy/prometheus-rules.yaml", "../../deploy/grafana-dashboard.json", "../../README.md"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		switch filepath.Ext(f) {
		case ".yaml":
			var v any
			if err := yaml.Unmarshal(b, &v); err != nil {
				t.Errorf("%s: %v", f, err)
			}
		case ".json":
			var v any
			if err := json.Unmarshal(b, &v); err != nil {
				t.Errorf("%s: %v", f, err)
			}
		}
		for _, name := range ref.FindAllString(string(b), -1) {
			base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
			if !known[base] && !known[name] {
				t.Errorf("%s names %s, which umbra does not export", filepath.Base(f), name)
			}
		}
	}
}

// The configurations `make install` writes start as they are: the unit's
// own start-up check (its ExecStartPre), run as the umbra user on the
// installed binary and files, passes, and the full examples lie beside
// them. Needs root (to create the umbra user and change to it).
func TestMakeInstallStartsAsUmbraUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates the umbra user and runs the check as it")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv not installed")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make not installed")
	}
	if exec.Command("id", "-u", "umbra").Run() != nil {
		if out, err := exec.Command("useradd", "--system", "--no-create-home", "--home-dir", "/var/lib/umbra",
			"--shell", "/usr/sbin/nologin", "umbra").CombinedOutput(); err != nil {
			t.Fatalf("useradd umbra: %v\n%s", err, out)
		}
	}
	dest := t.TempDir()
	// The umbra user must reach the installed tree, as it would under /.
	for d := dest; d != "/" && d != "."; d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o005 != 0o005 {
			os.Chmod(d, fi.Mode().Perm()|0o055)
		}
		if d == os.TempDir() {
			break
		}
	}
	cmd := exec.Command("make", "-C", "../..", "install", "DESTDIR="+dest, "BIN="+umbraBin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	for _, role := range []string{"hub", "edge"} {
		for _, f := range []string{"etc/umbra/" + role + ".yaml", "etc/umbra/" + role + ".yaml.example"} {
			if _, err := os.Stat(filepath.Join(dest, f)); err != nil {
				t.Errorf("not installed: %s", f)
			}
		}
		unit, err := os.ReadFile(filepath.Join(dest, "lib/systemd/system/umbra-"+role+".service"))
		if err != nil {
			t.Fatal(err)
		}
		var check []string
		for _, line := range strings.Split(string(unit), "\n") {
			if v, ok := strings.CutPrefix(line, "ExecStartPre="); ok {
				check = strings.Fields(v)
			}
		}
		if len(check) < 2 {
			t.Fatalf("%s unit has no ExecStartPre check", role)
		}
		// The unit's command, with the installed tree in place of /.
		for i, a := range check {
			if strings.HasPrefix(a, "/") {
				check[i] = filepath.Join(dest, a)
			}
		}
		args := append([]string{"--reuid=umbra", "--regid=umbra", "--init-groups", "--"}, check...)
		out, err := exec.Command(setpriv, args...).CombinedOutput()
		if err != nil {
			t.Errorf("%s unit's start-up check as the umbra user: %v\n%s", role, err, out)
		}
		// The full example is only an example: the check lists the files
		// it names that an operator must create first.
		out, err = exec.Command(setpriv, "--reuid=umbra", "--regid=umbra", "--init-groups", "--", check[0], "config", "check",
			filepath.Join(dest, "etc/umbra/"+role+".yaml.example")).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "/etc/umbra/tls/") {
			t.Errorf("the check of the %s example should name its missing TLS files: %v\n%s", role, err, out)
		}
	}
}
