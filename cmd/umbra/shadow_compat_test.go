package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// previousRelease is the last released main: the shadow verbs of version 1
// (a bare XSHADOW keyword, no XQUERYDISCARD WAIT=).
const previousRelease = "7b6d294"

// buildPreviousRelease builds the previous release's binary from git
// history. Without the history (an exported tarball) the test is skipped,
// except under CI, where it must run.
func buildPreviousRelease(t *testing.T) string {
	t.Helper()
	return buildRelease(t, previousRelease)
}

// releaseBins holds the binaries buildRelease built, by commit: one
// build per release for the whole run (two tests run the previous
// release), in the directory of the run's own binary (TestMain), which
// goes with it.
var releaseBins sync.Map

// buildRelease builds the binary of commit previousRelease from git
// history (skipped without it, except under CI), once per run.
func buildRelease(t *testing.T, previousRelease string) string {
	t.Helper()
	if bin, ok := releaseBins.Load(previousRelease); ok {
		return bin.(string)
	}
	unavailable := func(why string, args ...any) {
		t.Helper()
		if os.Getenv("CI") != "" {
			t.Fatalf("previous release %s: "+why, append([]any{previousRelease}, args...)...)
		}
		t.Skipf("previous release %s not available (git history needed; set CI to make this fatal): "+why, append([]any{previousRelease}, args...)...)
	}
	root, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		unavailable("no git repository: %v", err)
	}
	if err := exec.Command("git", "-C", strings.TrimSpace(string(root)), "cat-file", "-e", previousRelease+"^{commit}").Run(); err != nil {
		unavailable("commit not in the history: %v", err)
	}
	src := t.TempDir()
	archive := exec.Command("sh", "-c", `git -C "$1" archive "$2" | tar -x -C "$3"`, "sh", strings.TrimSpace(string(root)), previousRelease, src)
	if out, err := archive.CombinedOutput(); err != nil {
		t.Fatalf("git archive %s: %v\n%s", previousRelease, err, out)
	}
	bin := filepath.Join(filepath.Dir(umbraBin), "umbra-"+previousRelease)
	build := exec.Command("go", "build", "-o", bin, "./cmd/umbra")
	build.Dir = src
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", previousRelease, err, out)
	}
	releaseBins.Store(previousRelease, bin)
	return bin
}

// withBinary runs f with the test helpers (startUmbra, cli) using bin.
func withBinary(bin string, f func()) {
	saved := umbraBin
	umbraBin = bin
	defer func() { umbraBin = saved }()
	f()
}

// Compatible on the wire: an organisation upgrades one server at a time,
// so shadow redundancy works between this version and the previous
// release in both directions, and copies are discarded.
func TestShadowCompatiblePreviousRelease(t *testing.T) {
	old := buildPreviousRelease(t)

	t.Run("previous-shadow-server-new-primary", func(t *testing.T) {
		p := newShadowPair(t)
		sink := startRecorder(t, p.sink)
		b := startUmbra(t, p.cfgB, p.b)
		previousTopology(t, p.cfgA)
		var a *daemon
		withBinary(old, func() { a = startUmbra(t, p.cfgA, p.a) })
		acked := sendAll(t, nil, p.a, "compat-old-new", 3, 1)
		waitArrived(t, sink, acked, b)
		withBinary(old, func() {
			waitCond(t, "the previous release's shadow copies to be discarded by the new primary", 45*time.Second,
				func() bool { return len(p.queued(t, p.cfgA)) == 0 })
			out, _ := cli(t, p.cfgA, "track", "--json", "--sender", "a@example.org")
			if !strings.Contains(out, `"event": "shadow"`) || !strings.Contains(out, `"event": "discard"`) {
				a.dumpLog()
				t.Fatalf("no shadow session between the previous release and this one:\n%s", out)
			}
		})
	})

	t.Run("new-shadow-server-previous-primary", func(t *testing.T) {
		p := newShadowPairAck(t, "30s")
		slowHeartbeats(t, p.cfgA)
		metricsB := withMetrics(t, p.cfgB)
		startRecorder(t, p.sink)
		previousTopology(t, p.cfgB)
		var b *daemon
		withBinary(old, func() { b = startUmbra(t, p.cfgB, p.b) })
		a := startUmbra(t, p.cfgA, p.a)
		// Delayed acknowledgement against a version-1 primary: the
		// confirmation comes on one kept-open session, queried there.
		for _, subj := range []string{"compat-new-old-0", "compat-new-old-1"} {
			if r := rawSend(t, p.a, "a@example.org", []string{"b@remote.example"}, "Subject: "+subj+"\r\n\r\nx"); !strings.HasSuffix(r, ", confirmed by the next hop") {
				a.dumpLog()
				b.dumpLog()
				t.Fatalf("%s: %q", subj, r)
			}
		}
		waitCond(t, "the shadow copies held for the previous release to be discarded", 45*time.Second,
			func() bool { return len(p.queued(t, p.cfgA)) == 0 })
		if n := metricValue(t, metricsB, `umbra_smtp_sessions_total{connector="org"}`); n > 3 {
			t.Fatalf("the previous release saw %v sessions for two messages: the watch session was not kept open", n)
		}
		if out, _ := cli(t, p.cfgA, "track", "--json", "--sender", "a@example.org"); !strings.Contains(out, `"event": "shadow"`) {
			t.Fatalf("no shadow session with the previous release:\n%s", out)
		}
	})
}

// previousTopology points the configuration cfg at a copy of its topology
// without the keys the previous release does not know (source_addresses),
// which it would refuse as unknown.
func previousTopology(t *testing.T, cfg string) {
	t.Helper()
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var topo string
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "topology: "); ok {
			topo = v
		}
	}
	tb, err := os.ReadFile(topo)
	if err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(filepath.Dir(cfg), "topology-previous.yaml")
	if err := os.WriteFile(old, []byte(strings.ReplaceAll(string(tb), ", source_addresses: [127.0.0.1]", "")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(b), "topology: "+topo, "topology: "+old, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
}
