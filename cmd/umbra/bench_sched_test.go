package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/testsupport"
)

// startTarpit runs an SMTP server on addr that answers after delay to
// everything — the greeting, each command, the end of DATA — and accepts
// every message: a slow or tarpitting destination.
func startTarpit(b *testing.B, addr string, delay time.Duration) {
	b.Helper()
	ln := testsupport.Listen(b, addr)
	done := make(chan struct{})
	var wg sync.WaitGroup
	b.Cleanup(func() { close(done); ln.Close(); wg.Wait() })
	wait := func() bool {
		select {
		case <-done:
			return false
		case <-time.After(delay):
			return true
		}
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				go func() { <-done; c.Close() }()
				r := bufio.NewReader(c)
				if !wait() {
					return
				}
				fmt.Fprintf(c, "220 tarpit.bench.test\r\n")
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					cmd := strings.ToUpper(strings.TrimSpace(line))
					if !wait() {
						return
					}
					switch {
					case strings.HasPrefix(cmd, "EHLO"):
						fmt.Fprintf(c, "250-tarpit.bench.test\r\n250 8BITMIME\r\n")
					case cmd == "DATA":
						fmt.Fprintf(c, "354 go on\r\n")
						if _, err := testsupport.ReadData(r); err != nil {
							return
						}
						if !wait() {
							return
						}
						fmt.Fprintf(c, "250 2.0.0 ok\r\n")
					case cmd == "QUIT":
						fmt.Fprintf(c, "221 bye\r\n")
						return
					default:
						fmt.Fprintf(c, "250 ok\r\n")
					}
				}
			}()
		}
	}()
}

// twoDestinationConfig routes slow.example through its own send
// connector to slow, everything else to the sink.
func twoDestinationConfig(b *testing.B, dir, listen, sink, slow string) string {
	p := relayConfig(b, dir, listen, sink)
	cfg, err := os.ReadFile(p)
	if err != nil {
		b.Fatal(err)
	}
	s := strings.Replace(string(cfg), "send_connectors:\n", fmt.Sprintf(`send_connectors:
  - name: slow
    address_spaces: [{domain: "slow.example", cost: 1}]
    smart_hosts: [%q]
    tls: none
`, slow), 1)
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkSlowDestination: 5,000 messages for a fast destination
// (smtp-sink) flow through umbra while a burst of 1,200 messages (more than the default
// max_active of 1,000) for
// another destination meets a server that answers every command after
// 10 s — and, in the same run, the same 5,000 without the slow burst.
// The fast destination's throughput must not depend on the slow one
// (issue 15): the scheduler gives the slow destination its window and
// nothing else.
func BenchmarkSlowDestination(b *testing.B) {
	source := needTool(b, "smtp-source")
	const fast, slow = 5000, 1200
	for _, withSlow := range []bool{false, true} {
		b.Run(fmt.Sprintf("slow=%v", withSlow), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				listen, sinkAddr, slowAddr := freeAddr(b, "127.0.0.1"), freeAddr(b, "127.0.0.1"), freeAddr(b, "127.0.0.1")
				sink := startCountingSink(b, sinkAddr)
				startTarpit(b, slowAddr, 10*time.Second)
				d := startUmbra(b, twoDestinationConfig(b, b.TempDir(), listen, sinkAddr, slowAddr), listen)
				if withSlow {
					// The slow burst is queued first: it is due before
					// every fast message.
					out, err := exec.Command(source, "-s", "10", "-m", strconv.Itoa(slow), "-l", "4096",
						"-f", "sender@example.org", "-t", "rcpt@slow.example", listen).CombinedOutput()
					if err != nil {
						b.Fatalf("smtp-source (slow): %v\n%s", err, out)
					}
				}
				b.StartTimer()
				start := time.Now()
				out, err := exec.Command(source, "-s", "20", "-m", strconv.Itoa(fast), "-l", "4096",
					"-f", "sender@example.org", "-t", "rcpt@remote.example", listen).CombinedOutput()
				if err != nil {
					b.Fatalf("smtp-source: %v\n%s", err, out)
				}
				for deadline := time.Now().Add(10 * time.Minute); sink.Load() < fast; time.Sleep(2 * time.Millisecond) {
					if time.Now().After(deadline) {
						b.Fatalf("sink got %d of %d", sink.Load(), fast)
					}
				}
				total := time.Since(start)
				b.StopTimer()
				b.ReportMetric(float64(fast)/total.Seconds(), "fast-msgs/s")
				d.kill()
			}
		})
	}
}

// BenchmarkRelayDefaults: 4 KiB messages over 20 sessions, umbra with
// delayed acknowledgement on (the default: max_acknowledgement_delay
// 30 s; the sink is no shadow peer, so each 250 waits for the relay)
// and off, in the same run (issue 15: on ≥ 95 % of off).
func BenchmarkRelayDefaults(b *testing.B) {
	source := needTool(b, "smtp-source")
	const msgs = 3000
	for _, ack := range []string{"off", "on"} {
		b.Run("delayed_ack="+ack, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				listen, sinkAddr := freeAddr(b, "127.0.0.1"), freeAddr(b, "127.0.0.1")
				sink := startCountingSink(b, sinkAddr)
				p := relayConfig(b, b.TempDir(), listen, sinkAddr)
				if ack == "on" {
					cfg, _ := os.ReadFile(p)
					os.WriteFile(p, []byte(strings.Replace(string(cfg), "    max_acknowledgement_delay: 0s\n", "", 1)), 0o600)
				}
				d := startUmbra(b, p, listen)
				b.StartTimer()
				start := time.Now()
				out, err := exec.Command(source, "-s", "20", "-m", strconv.Itoa(msgs), "-l", "4096",
					"-f", "sender@example.org", "-t", "rcpt@remote.example", listen).CombinedOutput()
				if err != nil {
					b.Fatalf("smtp-source: %v\n%s", err, out)
				}
				for deadline := time.Now().Add(10 * time.Minute); sink.Load() < msgs; time.Sleep(2 * time.Millisecond) {
					if time.Now().After(deadline) {
						b.Fatalf("sink got %d of %d", sink.Load(), msgs)
					}
				}
				total := time.Since(start)
				b.StopTimer()
				b.ReportMetric(float64(msgs)/total.Seconds(), "msgs/s")
				d.kill()
			}
		})
	}
}

// BenchmarkLargeMessagesMemory: 50 sessions each send one 25 MiB
// message at once, relayed to smtp-sink. It reports the peak anonymous
// resident memory of the daemon (heap and stacks; the mapped database is
// counted apart), sampled every 20 ms (issue 15's target: ~100 MiB).
func BenchmarkLargeMessagesMemory(b *testing.B) {
	source := needTool(b, "smtp-source")
	const sessions, size = 50, 25 << 20
	for i := 0; i < b.N; i++ {
		listen, sinkAddr := freeAddr(b, "127.0.0.1"), freeAddr(b, "127.0.0.1")
		sink := startCountingSink(b, sinkAddr)
		d := startUmbra(b, relayConfig(b, b.TempDir(), listen, sinkAddr), listen)
		var peakAnon, peakFile int64
		stop := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			for {
				a, f := procMemory(d.cmd.Process.Pid)
				peakAnon, peakFile = max(peakAnon, a), max(peakFile, f)
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
		}()
		out, err := exec.Command(source, "-s", strconv.Itoa(sessions), "-m", strconv.Itoa(sessions), "-l", strconv.Itoa(size),
			"-f", "sender@example.org", "-t", "rcpt@remote.example", listen).CombinedOutput()
		if err != nil {
			b.Fatalf("smtp-source: %v\n%s", err, out)
		}
		for deadline := time.Now().Add(10 * time.Minute); sink.Load() < sessions; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				b.Fatalf("sink got %d of %d", sink.Load(), sessions)
			}
		}
		close(stop)
		<-sampled
		b.ReportMetric(float64(peakAnon)/(1<<20), "peak-rss-anon-MiB")
		b.ReportMetric(float64(peakFile)/(1<<20), "peak-rss-file-MiB")
		d.kill()
	}
}
