package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/testsupport"
)

// arrivalSink is an SMTP server that reports the time each message's
// data was read in full.
type arrivalSink struct {
	srv *gosmtp.Server
	got chan time.Time
}

type arrivalSession struct{ s *arrivalSink }

func (a arrivalSession) Mail(string, *gosmtp.MailOptions) error { return nil }
func (a arrivalSession) Rcpt(string, *gosmtp.RcptOptions) error { return nil }
func (a arrivalSession) Reset()                                 {}
func (a arrivalSession) Logout() error                          { return nil }
func (a arrivalSession) Data(rd io.Reader) error {
	io.Copy(io.Discard, rd)
	a.s.got <- time.Now()
	return nil
}

func startArrivalSink(b *testing.B, addr string) *arrivalSink {
	b.Helper()
	s := &arrivalSink{got: make(chan time.Time, 16)}
	s.srv = gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) { return arrivalSession{s}, nil }))
	s.srv.Domain = "sink.test"
	s.srv.ErrorLog = nopLog{}
	ln := testsupport.Listen(b, addr)
	go s.srv.Serve(ln)
	b.Cleanup(func() { s.srv.Close() })
	return s
}

// BenchmarkIdleLatency: one 4 KiB message at a time (b.N of them, 20 ms
// apart, nothing else in flight) from a client to the MTA, which relays
// it to a sink; "ceiling" is the client straight to the sink. Reported:
// p50 of the time from the client's connect to the sink having the
// whole message (e2e-p50-ms), and of the time from the end of the data
// to the MTA's 250 (ack-p50-ms). With UMBRA_BENCH_STRACE=1, after the
// timed messages, `strace -f -c` attaches to the MTA (umbra, or Postfix's
// master and what it starts) for 50 more and the fsync and fdatasync
// calls per message are reported (the timed messages are never traced).
func BenchmarkIdleLatency(b *testing.B) {
	body := "From: a@example.org\r\nTo: b@remote.example\r\nSubject: idle\r\n\r\n" + strings.Repeat("0123456789abcdef0123456789abcde\r\n", 124)
	for _, mta := range []string{"ceiling", "umbra", "postfix"} {
		b.Run("mta="+mta, func(b *testing.B) {
			listen, sinkAddr := freeAddr(b, "127.0.0.1"), freeAddr(b, "127.0.0.1")
			sink := startArrivalSink(b, sinkAddr)
			var stopTrace func() func() string
			switch mta {
			case "ceiling":
				listen = sinkAddr
			case "umbra":
				d := startUmbra(b, relayConfig(b, b.TempDir(), listen, sinkAddr), listen)
				stopTrace = func() func() string { return traceProcess(b, d.cmd.Process.Pid) }
			case "postfix":
				startPostfix(b, listen, sinkAddr)
				stopTrace = func() func() string { return traceProcess(b, listenerPid(b, listen)) }
			}
			if os.Getenv("UMBRA_BENCH_STRACE") == "" {
				stopTrace = nil
			}
			send := func() (ack, e2e time.Duration) {
				start := time.Now()
				c, err := gosmtp.Dial(listen)
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				if err := c.Mail("a@example.org", nil); err != nil {
					b.Fatal(err)
				}
				if err := c.Rcpt("b@remote.example", nil); err != nil {
					b.Fatal(err)
				}
				w, err := c.Data()
				if err != nil {
					b.Fatal(err)
				}
				io.WriteString(w, body)
				end := time.Now()
				if _, err := w.CloseWithResponse(); err != nil {
					b.Fatal(err)
				}
				ack = time.Since(end)
				c.Quit()
				select {
				case t := <-sink.got:
					e2e = t.Sub(start)
				case <-time.After(30 * time.Second):
					b.Fatal("the sink did not get the message in 30 s")
				}
				return ack, e2e
			}
			send() // warm: first connections, first commit
			var acks, e2es []time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				ack, e2e := send()
				acks, e2es = append(acks, ack), append(e2es, e2e)
				time.Sleep(20 * time.Millisecond)
			}
			b.StopTimer()
			p50 := func(d []time.Duration) float64 {
				sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
				return float64(d[len(d)/2].Microseconds()) / 1000
			}
			b.ReportMetric(p50(e2es), "e2e-p50-ms")
			b.ReportMetric(p50(acks), "ack-p50-ms")
			b.ReportMetric(0, "ns/op")
			if stopTrace != nil && b.N >= 10 {
				// The traced pass: the same messages again, counted.
				const n = 50
				stop := stopTrace() // attaches now
				for i := 0; i < n; i++ {
					send()
					time.Sleep(20 * time.Millisecond)
				}
				time.Sleep(500 * time.Millisecond) // the delivery results' commits
				sum := stop()
				calls := 0
				for _, l := range strings.Split(sum, "\n") {
					f := strings.Fields(l)
					if len(f) >= 5 && (f[len(f)-1] == "fsync" || f[len(f)-1] == "fdatasync") {
						// columns: % time, seconds, usecs/call, calls, [errors,] syscall
						if v, err := strconv.Atoi(f[3]); err == nil {
							calls += v
						}
					}
				}
				b.ReportMetric(float64(calls)/n, "fsyncs/msg")
				b.Logf("strace -c over %d messages:\n%s", n, sum)
			}
		})
	}
}

// listenerPid is the process listening on listen (Postfix's master).
func listenerPid(b *testing.B, listen string) int {
	b.Helper()
	out, err := exec.Command("sh", "-c", "ss -ltnpH 'sport = :"+strings.Split(listen, ":")[1]+"'").Output()
	if err != nil {
		b.Fatal(err)
	}
	// users:(("smtpd",pid=…),("master",pid=…)): the master if it is
	// there (its children share the socket), else the only one
	rest := string(out)
	if _, m, ok := strings.Cut(rest, `("master",`); ok {
		rest = m
	}
	_, rest, _ = strings.Cut(rest, "pid=")
	pid, _, _ := strings.Cut(rest, ",")
	n, err := strconv.Atoi(pid)
	if err != nil {
		b.Fatalf("no process listening on %s: %q", listen, out)
	}
	return n
}

// traceProcess attaches `strace -f -c` to pid (every thread, its
// children, and the processes it starts from now on) and returns the function that stops
// it and returns its summary.
func traceProcess(b *testing.B, pid int) func() string {
	b.Helper()
	file := filepath.Join(b.TempDir(), "strace")
	args := []string{"-f", "-c", "-e", "trace=fsync,fdatasync", "-o", file, "-p", strconv.Itoa(pid)}
	// and the processes it started already (Postfix's smtpd, cleanup,
	// qmgr, smtp stay for the next message)
	kids, _ := exec.Command("pgrep", "-P", strconv.Itoa(pid)).Output()
	for _, k := range strings.Fields(string(kids)) {
		args = append(args, "-p", k)
	}
	b.Logf("strace %s", strings.Join(args, " "))
	cmd := exec.Command(needTool(b, "strace"), args...)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // attached
	return func() string {
		cmd.Process.Signal(syscall.SIGINT) // detaches and writes the summary
		cmd.Wait()
		s, _ := os.ReadFile(file)
		return string(s)
	}
}
