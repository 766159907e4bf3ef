package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// receiptBenchOrg is hub-a and hub-a2 (site a) and hub-b (site b), all
// able to send to the sink; hub-a's connector has shadow_on_receipt pref
// and a 30 s max_acknowledgement_delay (which shadow on receipt
// replaces). It returns hub-a's address, hub-a2's config and the sink's
// address, with hub-a2 and hub-b running.
func receiptBenchOrg(b *testing.B, pref string) (a, cfgA, cfgA2, sink string) {
	dir := b.TempDir()
	a, a2, hb := freeAddr(b, "127.0.0.1"), freeAddr(b, "127.0.0.2"), freeAddr(b, "127.0.0.3")
	sink = freeAddr(b, "127.0.0.1")
	topo := fmt.Sprintf(`sites:
  - {name: a}
  - {name: b}
site_links:
  - {name: a-b, sites: [a, b], cost: 10}
servers:
  - {name: hub-a, role: hub, site: a, address: %q, source_addresses: [127.0.0.1]}
  - {name: hub-a2, role: hub, site: a, address: %q, source_addresses: [127.0.0.1]}
  - {name: hub-b, role: hub, site: b, address: %q, source_addresses: [127.0.0.1]}
send_connectors:
  - {name: out, address_spaces: [{domain: "*", cost: 1}], source_servers: [hub-a, hub-a2, hub-b], smart_hosts: [%q]}
`, a, a2, hb, sink)
	topoPath := filepath.Join(dir, "topology.yaml")
	os.WriteFile(topoPath, []byte(topo), 0o600)
	cfgA, _ = orgHub(b, dir, "hub-a", a, topoPath, "30s\n    shadow_on_receipt: "+pref, "")
	cfgA2, _ = orgHub(b, dir, "hub-a2", a2, topoPath, "0s", "")
	cfgB, _ := orgHub(b, dir, "hub-b", hb, topoPath, "0s", "")
	startUmbra(b, cfgB, hb)
	return a, cfgA, cfgA2, sink
}

// BenchmarkShadowOnReceipt (SR-17) measures the reply to DATA at hub-a,
// idle, one message at a time: with shadow on receipt in the same site
// (local-only: the copy on hub-a2) or in the other (prefer-remote: on
// hub-b), and without it (off: commit, then 250, no delayed
// acknowledgement), with the next hop up (the sink) and down (off/down
// tells what the down next hop costs without any copy). The peer's own commit time is read from hub-a2's
// umbra_queue_commit_duration_seconds (mean over the run).
func BenchmarkShadowOnReceipt(b *testing.B) {
	for _, tc := range []struct{ pref, next string }{{"off", "up"}, {"local-only", "up"}, {"off", "down"}, {"local-only", "down"}, {"prefer-remote", "up"}} {
		b.Run("pref="+tc.pref+"/next-hop="+tc.next, func(b *testing.B) {
			a, cfgA, cfgA2, sink := receiptBenchOrg(b, tc.pref)
			metricsA2 := withMetrics(b, cfgA2)
			if tc.next == "up" {
				startRecorder(b, sink)
			}
			startUmbra(b, cfgA2, a2Addr(b, cfgA2))
			if tc.pref == "off" { // the bare receive path: commit, then 250
				editConfig(b, cfgA, "max_acknowledgement_delay: 30s", "max_acknowledgement_delay: 0s")
			}
			startUmbra(b, cfgA, a)
			commit0 := metricValue(b, metricsA2, "umbra_queue_commit_duration_seconds_sum")
			commits0 := metricValue(b, metricsA2, "umbra_queue_commit_duration_seconds_count")
			var lat []time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c, err := gosmtp.Dial(a)
				if err != nil {
					b.Fatal(err)
				}
				c.Mail("a@example.org", nil)
				c.Rcpt("b@remote.example", nil)
				w, _ := c.Data()
				w.Write([]byte("Subject: receipt\r\n\r\n" + strings.Repeat("latency\r\n", 400)))
				start := time.Now()
				resp, err := w.CloseWithResponse()
				lat = append(lat, time.Since(start))
				if err != nil || tc.pref != "off" && !strings.Contains(resp.StatusText, "shadow copy on") {
					b.Fatalf("%v %+v", err, resp)
				}
				c.Quit()
			}
			b.StopTimer()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			if n := metricValue(b, metricsA2, "umbra_queue_commit_duration_seconds_count") - commits0; n > 0 {
				sum := metricValue(b, metricsA2, "umbra_queue_commit_duration_seconds_sum") - commit0
				b.ReportMetric(sum/n*1000, "peer-commit-ms")
			}
		})
	}
}

// a2Addr reads the binding of a hub configuration written by orgHub.
func a2Addr(b *testing.B, cfg string) string {
	c, _ := os.ReadFile(cfg)
	_, after, _ := strings.Cut(string(c), "bindings: [\"")
	addr, _, _ := strings.Cut(after, "\"")
	return addr
}

// BenchmarkShadowOnReceiptThroughput: smtp-source, 20 sessions, 2000 ×
// 4 KiB into hub-a, with shadow on receipt (local-only) and off; the
// figure is acknowledged messages per second.
func BenchmarkShadowOnReceiptThroughput(b *testing.B) {
	source := needTool(b, "smtp-source")
	for _, pref := range []string{"off", "local-only"} {
		b.Run("pref="+pref, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				a, cfgA, cfgA2, sink := receiptBenchOrg(b, pref)
				startSmtpSink(b, sink)
				startUmbra(b, cfgA2, a2Addr(b, cfgA2))
				if pref == "off" { // and no delayed acknowledgement either: the bare receive path
					editConfig(b, cfgA, "max_acknowledgement_delay: 30s", "max_acknowledgement_delay: 0s")
				}
				ha := startUmbra(b, cfgA, a)
				b.StartTimer()
				start := time.Now()
				out, err := exec.Command(source, "-s", "20", "-m", "2000", "-l", "4096", "-f", "a@example.org",
					"-t", "b@remote.example", a).CombinedOutput()
				if err != nil {
					b.Fatalf("smtp-source: %v\n%s", err, out)
				}
				b.ReportMetric(2000/time.Since(start).Seconds(), "msgs/s")
				b.StopTimer()
				ha.kill()
			}
		})
	}
}
