package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// readmeSection is the text of the README's section headed by heading
// ("## Metrics"), up to the next heading of its level.
func readmeSection(t *testing.T, heading string) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "\n"+heading+"\n")
	if i < 0 {
		t.Fatalf("README: no section %q", heading)
	}
	s = s[i+len(heading)+2:]
	if j := strings.Index(s, "\n## "); j >= 0 {
		s = s[:j]
	}
	return s
}

var panicsName = regexp.MustCompile(`umbra_[a-z0-9_]*panics_total`)

// OPS-2 (rt31c F7): the README's Metrics section lists every
// *_panics_total counter a daemon exports — a fresh daemon exports each
// at zero from its start, umbra_helper_panics_total with every part its
// helpers count under — and every such counter the README names
// elsewhere (an edge feature's table, the LDAP directory) is in the
// Metrics section too.
func TestOPS2ReadmeMetricsListEveryPanicsCounter(t *testing.T) {
	dir := t.TempDir()
	listen, sink, maddr := freeAddr(t, "127.0.0.1"), reserveAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sink)
	b, _ := os.ReadFile(cfg)
	text := strings.Replace(string(b), `metrics_listen: ""`, "metrics_listen: "+maddr, 1) + "pickup: {directory: pickup}\n"
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	page, err := scrapeMetrics(maddr)
	if err != nil {
		t.Fatal(err)
	}
	var exported []string
	for _, l := range strings.Split(page, "\n") {
		if f := strings.Fields(l); len(f) >= 3 && f[0] == "#" && f[1] == "TYPE" && panicsName.MatchString(f[2]) {
			exported = append(exported, f[2])
		}
	}
	section := readmeSection(t, "## Metrics")
	listed := map[string]bool{}
	for _, l := range strings.Split(section, "\n") {
		if strings.HasPrefix(l, "| `") {
			for _, n := range panicsName.FindAllString(strings.SplitN(l, "|", 3)[1], -1) {
				listed[n] = true
			}
		}
	}
	for _, n := range exported {
		if !listed[n] {
			t.Errorf("the daemon exports %s, the README's Metrics section does not list it", n)
		}
	}
	whole, _ := os.ReadFile(filepath.Join("..", "..", "README.md"))
	for _, n := range panicsName.FindAllString(string(whole), -1) {
		if !listed[n] {
			t.Errorf("the README names %s, its Metrics section does not list it", n)
		}
	}
	for _, want := range []string{"umbra_helper_panics_total", "umbra_queue_panics_total", "umbra_delivery_panics_total",
		"umbra_smtp_session_panics_total", "umbra_dns_panics_total", "umbra_dnsbl_panics_total", "umbra_pickup_panics_total",
		"umbra_tracking_log_prune_panics_total"} {
		if !slices.Contains(exported, want) {
			t.Errorf("a fresh daemon's /metrics has no %s", want)
		}
	}
	for _, part := range helperParts {
		if !strings.Contains(page, `umbra_helper_panics_total{part="`+part+`"} 0`) {
			t.Errorf("a fresh daemon's /metrics has no umbra_helper_panics_total{part=%q} 0", part)
		}
		if !strings.Contains(section, "`"+part+"`") {
			t.Errorf("the README's Metrics section does not name the part %q of umbra_helper_panics_total", part)
		}
	}
}

// OPS-2, SR-6: the gauge of expired shadow copies kept because their
// live primary refuses this server is exported by a fresh daemon (0) and
// listed in the README's Metrics section.
func TestOPS2ReadmeListsExpiredKeptCopies(t *testing.T) {
	dir := t.TempDir()
	listen, sink, maddr := freeAddr(t, "127.0.0.1"), reserveAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sink)
	b, _ := os.ReadFile(cfg)
	text := strings.Replace(string(b), `metrics_listen: ""`, "metrics_listen: "+maddr, 1)
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	page, err := scrapeMetrics(maddr)
	if err != nil {
		t.Fatal(err)
	}
	const name = "umbra_shadow_expired_kept_copies"
	if !strings.Contains(page, "\n"+name+" 0\n") {
		t.Errorf("a fresh daemon's /metrics has no %s 0", name)
	}
	listed := false
	for _, l := range strings.Split(readmeSection(t, "## Metrics"), "\n") {
		listed = listed || strings.HasPrefix(l, "| `"+name+"` |")
	}
	if !listed {
		t.Errorf("the README's Metrics section does not list %s", name)
	}
}
