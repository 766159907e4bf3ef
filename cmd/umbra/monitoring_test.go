package main

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// A fresh server, before any mail: every metric the dashboard and the
// alert rules use is scraped (no panel or alert watches nothing, the
// dashboard's instance variable has values), umbra_build_info names the
// version, promtool accepts the scrape and the rules, and the ready log
// line names the metrics address.
func TestMonitoringOnAFreshServer(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sinkAddr)
	metricsAddr := withMetrics(t, cfg)
	d := startUmbra(t, cfg, listen)

	var scrape string
	deadline := time.Now().Add(20 * time.Second)
	for {
		var err error
		if scrape, err = scrapeMetrics(metricsAddr); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no metrics on %s: %v", metricsAddr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	present := map[string]bool{}
	for _, line := range strings.Split(scrape, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		name := line[:strings.IndexAny(line, "{ ")]
		present[name] = true
	}
	ref := regexp.MustCompile(`umbra_[a-z]+_[a-z_]+`)
	for _, f := range []string{"../../deploy/prometheus-rules.yaml", "../../deploy/grafana-dashboard.json"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range ref.FindAllString(string(b), -1) {
			if !present[name] {
				t.Errorf("%s uses %s, which a fresh server does not export", f, name)
			}
		}
	}
	if !regexp.MustCompile(`umbra_build_info\{goversion="go[^"]+",version="[^"]+"\} 1`).MatchString(scrape) {
		t.Errorf("no umbra_build_info with version:\n%s", grepLines(scrape, "build_info"))
	}
	for _, want := range []string{`umbra_queue_oldest_message_age_seconds{queue_type="smtp-smart-host"} 0`,
		`umbra_smtp_sessions_total{connector="loopback"} `, `umbra_config_last_reload_successful 1`, `umbra_queues_suspended 0`,
		`umbra_dumpster_messages{database="local"} 0`,
		`umbra_outbound_sessions_total{destination="sink",tls="none"} 0`, `umbra_outbound_sessions_total{destination="sink",tls="TLS 1.3"} 0`,
		`umbra_outbound_tls_failures_total{destination="sink",policy="verify"} 0`,
		`umbra_tls_policy_sessions_total{policy_type="sts",result="certificate-host-mismatch"} 0`} {
		if !strings.Contains(scrape, want) {
			t.Errorf("a fresh server lacks %s", want)
		}
	}
	if log, _ := os.ReadFile(d.log); !strings.Contains(string(log), "metrics=http://"+metricsAddr+"/metrics") {
		t.Errorf("the ready line does not name the metrics address:\n%s", grepLines(string(log), "ready"))
	}

	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (Debian package prometheus; .ci/run installs it)")
	}
	check := exec.Command(promtool, "check", "metrics")
	check.Stdin = strings.NewReader(scrape)
	if out, err := check.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
	if out, err := exec.Command(promtool, "check", "rules", "../../deploy/prometheus-rules.yaml").CombinedOutput(); err != nil {
		t.Errorf("promtool check rules: %v\n%s", err, out)
	}
}

// A delivery through a send connector counts one outbound session under
// its name and TLS outcome (tls: none here).
func TestOutboundSessionsCounted(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sinkAddr)
	metricsAddr := withMetrics(t, cfg)
	r := startRecorder(t, sinkAddr)
	startUmbra(t, cfg, listen)
	if ok, err := send(listen, "counted"); !ok || err != nil {
		t.Fatalf("send: %v %v", ok, err)
	}
	want := `umbra_outbound_sessions_total{destination="sink",tls="none"} 1`
	deadline := time.Now().Add(20 * time.Second)
	for {
		scrape, _ := scrapeMetrics(metricsAddr)
		if r.counts()["counted"] == 1 && strings.Contains(scrape, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("received %v; want %s:\n%s", r.counts(), want, grepLines(scrape, "umbra_outbound"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
