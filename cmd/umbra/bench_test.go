package main

import (
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// BenchmarkRelay measures end-to-end relay throughput: Postfix's
// smtp-source sends 5000 messages of 4 KiB over 20 sessions to umbra,
// which makes each durable (fsync) and relays it to Postfix's smtp-sink.
// The clock stops when the sink has received every message.
func BenchmarkRelay(b *testing.B) {
	for _, tc := range []struct {
		msgs, sessions, size int
	}{{5000, 20, 4096}, {5000, 1, 4096}, {1000, 20, 100 << 10}} {
		b.Run(strconv.Itoa(tc.msgs)+"x"+strconv.Itoa(tc.size)+"B/sessions="+strconv.Itoa(tc.sessions), func(b *testing.B) {
			source := needTool(b, "smtp-source")
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				dir := b.TempDir()
				listen, sinkAddr := freeAddr(b, "127.0.0.1"), freeAddr(b, "127.0.0.1")
				dump := startSmtpSink(b, sinkAddr)
				d := startUmbra(b, relayConfig(b, dir, listen, sinkAddr), listen)
				b.StartTimer()
				start := time.Now()
				out, err := exec.Command(source, "-s", strconv.Itoa(tc.sessions), "-m", strconv.Itoa(tc.msgs),
					"-l", strconv.Itoa(tc.size), "-f", "sender@example.org", "-t", "rcpt@remote.example", listen).CombinedOutput()
				if err != nil {
					b.Fatalf("smtp-source: %v\n%s", err, out)
				}
				acked := time.Since(start)
				deadline := time.Now().Add(5 * time.Minute)
				for countDump(dump) < tc.msgs {
					if time.Now().After(deadline) {
						b.Fatalf("sink got %d of %d", countDump(dump), tc.msgs)
					}
					time.Sleep(5 * time.Millisecond)
				}
				total := time.Since(start)
				b.StopTimer()
				b.ReportMetric(float64(tc.msgs)/total.Seconds(), "msgs/s")
				b.ReportMetric(float64(tc.msgs)/acked.Seconds(), "accepted-msgs/s")
				d.kill()
			}
		})
	}
}
