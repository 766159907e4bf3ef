package main

import (
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"umbra/internal/backpressure"
	"umbra/internal/connfilter"
	"umbra/internal/ldapdir"
	"umbra/internal/metrics"
	"umbra/internal/milter"
	"umbra/internal/msgauth"
	"umbra/internal/queue"
	"umbra/internal/ratelimit"
	"umbra/internal/resolver"
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
		// OPS- (rt24c F3): systemd ends ExecReload at its first failing
		// line, so a line before the SIGHUP that can fail (config check
		// of a file mid-edit) keeps the reload from making the admin
		// socket again, the remedy the CLI names. Every line before the
		// SIGHUP has its failure ignored ("-"), and the SIGHUP is last.
		var reload []string
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(l), "ExecReload="); ok {
				reload = append(reload, v)
			}
		}
		if len(reload) == 0 || reload[len(reload)-1] != "/bin/kill -HUP $MAINPID" {
			t.Errorf("%s unit: the last ExecReload is not the SIGHUP: %q", role, reload)
		}
		for _, v := range reload[:max(len(reload)-1, 0)] {
			if !strings.HasPrefix(v, "-") {
				t.Errorf("%s unit: ExecReload=%s can fail before the SIGHUP and stop the reload", role, v)
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
		"usr/share/umbra/grafana-dashboard.json", "usr/share/doc/umbra/README.md",
		// The logrotate file is shipped, not enabled: umbra rotates its
		// tracking log itself unless the operator copies it to
		// /etc/logrotate.d (README, tracking).
		"usr/share/umbra/umbra.logrotate"} {
		if _, err := os.Stat(filepath.Join(dest, f)); err != nil {
			t.Errorf("not installed: %s", f)
		}
	}
	if _, err := os.Stat(filepath.Join(dest, "etc/logrotate.d")); err == nil {
		t.Error("make install enabled a logrotate policy: umbra's own rotation would race it")
	}
	if readme, err := os.ReadFile("../../README.md"); err != nil || !strings.Contains(string(readme), "share/umbra/umbra.logrotate") {
		t.Errorf("the README does not say where make install puts the logrotate file (%v)", err)
	}
	// An existing configuration is never overwritten.
	os.WriteFile(filepath.Join(dest, "etc/umbra/hub.yaml"), []byte("# mine\n"), 0o640)
	exec.Command("make", "-C", "../..", "install", "DESTDIR="+dest, "BIN="+umbraBin).Run()
	if b, _ := os.ReadFile(filepath.Join(dest, "etc/umbra/hub.yaml")); string(b) != "# mine\n" {
		t.Error("make install overwrote /etc/umbra/hub.yaml")
	}
}

// A binary built without cgo (no C compiler: the go command turns cgo
// off by itself) lacks the constructor that takes a SIGHUP from the
// process's first instant: `make install` refuses it, unless the
// operator says ALLOW_NOCGO=1, and `make build` warns (OPS-1).
func TestMakeInstallRefusesBuildWithoutCgo(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make not installed")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "umbra")
	run := func(args ...string) (string, error) {
		cmd := exec.Command("make", append([]string{"-C", "../..", "BIN=" + bin}, args...)...)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run("build")
	if err != nil || !strings.Contains(out, "warning: binary built without cgo") {
		t.Fatalf("make build without cgo: %v, want a warning:\n%s", err, out)
	}
	dest := filepath.Join(dir, "root")
	if out, err := run("install", "DESTDIR="+dest); err == nil || !strings.Contains(out, "ALLOW_NOCGO=1") {
		t.Fatalf("make install of a build without cgo: %v, want a refusal naming ALLOW_NOCGO=1:\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dest, "usr/bin/umbra")); err == nil {
		t.Fatal("the refused binary was installed")
	}
	if out, err := run("install", "DESTDIR="+dest, "ALLOW_NOCGO=1"); err != nil {
		t.Fatalf("make install ALLOW_NOCGO=1: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dest, "usr/bin/umbra")); err != nil {
		t.Fatal("ALLOW_NOCGO=1 installed nothing")
	}
}

// Every umbra metric the alert rules, the dashboard and the README name
// exists, so none of them silently watches nothing.
func TestMonitoringNamesExistingMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	metrics.New(reg).RegisterOps(reg, "test")
	metrics.RegisterSuspended(reg, func() []string { return nil })
	metrics.RegisterQueues(reg, func() ([]queue.QueueStats, error) { return nil, nil }, nil)
	metrics.RegisterShadowStates(reg, func() ([]metrics.PrimaryState, error) { return nil, nil })
	metrics.RegisterDumpster(reg, func() (map[string]queue.DumpsterStat, error) { return nil, nil })
	metrics.RegisterOutbound(reg)
	metrics.RegisterScheduler(reg, func() []queue.DestinationInfo { return nil })
	metrics.RegisterSigning(reg)
	metrics.RegisterTLSPolicy(reg, func() float64 { return 0 })
	backpressure.New(nil, slog.New(slog.DiscardHandler), reg)
	registerRetention(reg, func() int { return 0 })
	spoolStore, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer spoolStore.Close()
	registerSpoolMetrics(reg, spoolStore)
	registerBodyMemoryMetrics(reg, noBodyMemory{})
	registerQuarantine(reg, func() (int, int64) { return 0, 0 })
	registerQuarantineFull(reg, func() uint64 { return 0 })
	metrics.RegisterSingleCopies(reg, func() int { return 0 })
	metrics.RegisterUnconfirmedCopies(reg, func() int { return 0 })
	metrics.RegisterRollbacks(reg, func() uint64 { return 0 })
	metrics.RegisterStaleEarlyDiscards(reg, func() uint64 { return 0 })
	metrics.RegisterExpiredKept(reg, func() int { return 0 })
	metrics.RegisterDamagedPeers(reg, func() int { return 0 })
	metrics.RegisterRetiredDatabaseIDs(reg, func() (int, error) { return 0, nil })
	metrics.RegisterDamagedRequests(reg, func() int { return 0 })
	metrics.RegisterPickupPanics(reg)
	newGuard(reg, nil) // umbra_helper_panics_total (helperpanic.go)
	msgauth.NewMetrics(reg)
	ratelimit.NewCounters(nil, reg)
	if _, err := ldapdir.New(ldapdir.Config{URL: "ldap://127.0.0.1", BaseDN: "dc=x", Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	resolver.NewMetrics(reg)
	connfilter.NewMetrics(reg)
	milter.NewMetrics(reg)
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
	if exec.Command("unshare", "-m", "true").Run() != nil {
		t.Skip("unshare -m (a mount namespace, for the unit's StateDirectory) not available")
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
		// The unit's StateDirectory=umbra and RuntimeDirectory=umbra:
		// systemd makes /var/lib/umbra and /run/umbra (0750, the umbra
		// user's) before ExecStartPre, and config check judges the data
		// directory and the admin socket's as the start will (it must be
		// able to make and write them). Given here in a mount namespace
		// of the check's own, so that the machine's /var/lib and /run are
		// left untouched.
		args := append([]string{"--reuid=umbra", "--regid=umbra", "--init-groups", "--"}, check...)
		const stateDirectory = `for d in /var/lib /run; do mount -t tmpfs -o mode=0755 tmpfs $d && mkdir -m 0750 $d/umbra && chown umbra:umbra $d/umbra || exit 1; done; exec "$@"`
		out, err := exec.Command("unshare", append([]string{"-m", "--propagation", "private", "sh", "-c", stateDirectory, "sh", setpriv}, args...)...).CombinedOutput()
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
	installedPairDelivers(t, setpriv, dest)
}

// installedPairDelivers starts the installed hub and edge configurations
// side by side as the umbra user, moved to free loopback ports and a
// scratch state and runtime directory and otherwise unchanged, and
// delivers one message edge → hub → Maildir: the edge's smart host is the
// hub's binding, and its callout validation asks the hub, which knows the
// installed recipients and refuses others.
func installedPairDelivers(t *testing.T, setpriv, dest string) {
	state := filepath.Join(dest, "state")
	if err := os.MkdirAll(state, 0o750); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("chown", "umbra:umbra", state).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v\n%s", err, out)
	}
	hubAddr, edgeAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	moved := func(role string) string {
		b, err := os.ReadFile(filepath.Join(dest, "etc/umbra", role+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		for _, r := range [][2]string{
			{"/var/lib/umbra/edge", filepath.Join(state, "edge")},
			{"/var/lib/umbra", filepath.Join(state, "hub")},
			{"/run/umbra/", state + "/"},
			{"127.0.0.1:2525", hubAddr},
			{`"127.0.0.1:25"`, `"` + edgeAddr + `"`},
			{"127.0.0.1:9325", freeAddr(t, "127.0.0.1")},
			{"127.0.0.1:9326", freeAddr(t, "127.0.0.1")},
		} {
			s = strings.ReplaceAll(s, r[0], r[1])
		}
		// Nothing of the real machine is left (the test must not touch
		// /var/lib/umbra, /run/umbra or port 25).
		for _, left := range []string{"/var/lib/umbra", "/run/umbra", "127.0.0.1:25\"", "127.0.0.1:2525", "127.0.0.1:932"} {
			if strings.Contains(s, left) {
				t.Fatalf("the installed %s.yaml has %s in a place the test does not move", role, left)
			}
		}
		p := filepath.Join(dest, "etc/umbra", role+".test.yaml")
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	asUmbra := []string{setpriv, "--reuid=umbra", "--regid=umbra", "--init-groups", "--"}
	hub := startUmbraWith(t, moved("hub"), hubAddr, asUmbra)
	edge := startUmbraWith(t, moved("edge"), edgeAddr, asUmbra)

	c, err := gosmtp.Dial(edgeAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("someone@example.org", nil); err != nil {
		t.Fatal(err)
	}
	// The hub does not know this one: the edge's callout says so at RCPT.
	if err := c.Rcpt("nobody@localhost", nil); !smtpCode(err, 550) {
		edge.dumpLog()
		t.Fatalf("RCPT of an unknown recipient at the edge: %v, want 550", err)
	}
	if err := c.Rcpt("postmaster@localhost", nil); err != nil {
		edge.dumpLog()
		hub.dumpLog()
		t.Fatalf("RCPT postmaster@localhost at the edge: %v", err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("From: someone@example.org\r\nTo: postmaster@localhost\r\nSubject: installed-pair\r\n\r\nedge to hub\r\n"))
	if err := w.Close(); err != nil {
		t.Fatalf("DATA at the edge: %v", err)
	}
	c.Quit()

	maildir := filepath.Join(state, "hub", "maildir")
	deadline := time.Now().Add(30 * time.Second)
	for {
		var found string
		filepath.WalkDir(maildir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && filepath.Base(filepath.Dir(p)) == "new" {
				if b, _ := os.ReadFile(p); strings.Contains(string(b), "Subject: installed-pair") {
					found = p
				}
			}
			return nil
		})
		if found != "" {
			break
		}
		if time.Now().After(deadline) {
			edge.dumpLog()
			hub.dumpLog()
			t.Fatalf("the message never reached the hub's Maildir %s", maildir)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func smtpCode(err error, code int) bool {
	var se *gosmtp.SMTPError
	return errors.As(err, &se) && se.Code == code
}

// `make build` stamps the version git describe gives (the version command,
// the ready line and umbra_build_info report it), also when root builds a
// clone another user owns, as `sudo make install` does.
func TestMakeBuildReportsGitDescribe(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make not installed")
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	versionOf := func(repo string) (got, want string) {
		t.Helper()
		bin := filepath.Join(t.TempDir(), "umbra")
		if out, err := exec.Command("make", "-C", repo, "build", "BIN="+bin).CombinedOutput(); err != nil {
			t.Fatalf("make build: %v\n%s", err, out)
		}
		out, err := exec.Command(bin, "version").Output()
		if err != nil {
			t.Fatal(err)
		}
		d, err := exec.Command("git", "-C", repo, "-c", "safe.directory=*", "describe", "--tags", "--always", "--dirty").Output()
		if err != nil {
			t.Fatal(err)
		}
		return string(out), strings.TrimSpace(string(d))
	}
	if got, want := versionOf("../.."); !strings.HasPrefix(got, "umbra "+want+" ") {
		t.Errorf("make build: %q, want umbra %s", got, want)
	}
	if os.Geteuid() != 0 {
		return
	}
	// A clone owned by someone else, built by root.
	clone := filepath.Join(t.TempDir(), "clone")
	if out, err := exec.Command("git", "clone", "-q", "../..", clone).CombinedOutput(); err != nil {
		t.Skipf("git clone: %v\n%s", err, out)
	}
	mk, err := os.ReadFile("../../Makefile") // the Makefile under test, not the committed one
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(clone, "Makefile"), mk, 0o644)
	if out, err := exec.Command("chown", "-R", "nobody", clone).CombinedOutput(); err != nil {
		t.Skipf("chown nobody: %v\n%s", err, out)
	}
	// The version make stamps there: the build itself is the one above
	// (the same LDFLAGS), and a second full compile in another directory
	// (the build cache keys on it) cost 20 s of make test.
	out, err := exec.Command("make", "-s", "-C", clone, "--eval", "print-version: ; @echo $(VERSION)", "print-version").CombinedOutput()
	if err != nil {
		t.Fatalf("make print-version in another user's clone: %v\n%s", err, out)
	}
	d, err := exec.Command("git", "-C", clone, "-c", "safe.directory=*", "describe", "--tags", "--always", "--dirty").Output()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.TrimSpace(string(out)), strings.TrimSpace(string(d)); got != want || strings.Contains(got, "dev") {
		t.Errorf("root's make in another user's clone stamps version %q, want %s", got, want)
	}
}

type noBodyMemory struct{}

func (noBodyMemory) BodyMemory() (int64, int64, uint64, uint64) { return 0, 0, 0, 0 }
