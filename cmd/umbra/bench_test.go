package main

import (
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// BenchmarkDelayedAck measures how long a non-shadow sender waits for its
// confirmed 250 through edge -> hub -> sink: relay in a shadow session,
// delivery at the hub, discard notification back, then the reply.
func BenchmarkDelayedAck(b *testing.B) {
	for _, load := range []bool{false, true} {
		b.Run(fmt.Sprintf("load=%v", load), func(b *testing.B) { benchDelayedAck(b, load) })
	}
}

// benchDelayedAck measures at idle, or while smtp-source keeps 20
// sessions of other mail flowing through the same edge and hub.
func benchDelayedAck(b *testing.B, load bool) {
	p := newShadowPairAck(b, "30s")
	metricsB := withMetrics(b, p.cfgB) // hub-b counts the sessions hub-a opens to it
	startRecorder(b, p.sink)
	startUmbra(b, p.cfgB, p.b)
	startUmbra(b, p.cfgA, p.a)
	if load {
		source := needTool(b, "smtp-source")
		cmd := exec.Command(source, "-s", "20", "-m", "1000000", "-l", "4096", "-f", "load@example.org", "-t", "x@remote.example", p.a)
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		defer func() { cmd.Process.Kill(); cmd.Wait() }()
		time.Sleep(time.Second) // let the load settle
	}
	var lat []time.Duration
	sessions0, start0 := metricValue(b, metricsB, `umbra_smtp_sessions_total{connector="org"}`), time.Now()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c, err := gosmtp.Dial(p.a)
		if err != nil {
			b.Fatal(err)
		}
		c.Mail("a@example.org", nil)
		c.Rcpt("b@remote.example", nil)
		w, _ := c.Data()
		w.Write([]byte("Subject: ack\r\n\r\nlatency\r\n"))
		start := time.Now()
		resp, err := w.CloseWithResponse()
		lat = append(lat, time.Since(start))
		if err != nil || !strings.Contains(resp.StatusText, "confirmed") {
			b.Fatalf("%v %+v", err, resp)
		}
		c.Quit()
	}
	b.StopTimer()
	sessions := metricValue(b, metricsB, `umbra_smtp_sessions_total{connector="org"}`) - sessions0
	b.ReportMetric(sessions/time.Since(start0).Seconds(), "hub-conns/s")
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkShadowTwoHops relays smtp-source -> edge -> hub -> smtp-sink
// (5000 × 4 KiB, 20 sessions) with shadow redundancy on and off: the cost
// of keeping a copy at the edge until the hub has delivered.
func BenchmarkShadowTwoHops(b *testing.B) {
	source := needTool(b, "smtp-source")
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("shadow=%v", on), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				p := newShadowPairAck(b, "0s")
				if !on {
					for _, cfg := range []string{p.cfgA, p.cfgB} {
						c, _ := os.ReadFile(cfg)
						os.WriteFile(cfg, []byte(strings.Replace(string(c), "transport:\n", "transport:\n  shadow_redundancy_enabled: false\n", 1)), 0o600)
					}
				}
				dump := startSmtpSink(b, p.sink)
				hub := startUmbra(b, p.cfgB, p.b)
				edge := startUmbra(b, p.cfgA, p.a)
				b.StartTimer()
				start := time.Now()
				out, err := exec.Command(source, "-s", "20", "-m", "5000", "-l", "4096", "-f", "a@example.org",
					"-t", "b@remote.example", p.a).CombinedOutput()
				if err != nil {
					b.Fatalf("smtp-source: %v\n%s", err, out)
				}
				for deadline := time.Now().Add(5 * time.Minute); countDump(dump) < 5000; time.Sleep(5 * time.Millisecond) {
					if time.Now().After(deadline) {
						b.Fatalf("sink got %d of 5000", countDump(dump))
					}
				}
				b.ReportMetric(5000/time.Since(start).Seconds(), "msgs/s")
				b.StopTimer()
				edge.kill()
				hub.kill()
			}
		})
	}
}
