package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// peakSampler samples the anonymous and file-backed resident memory of
// processes every 20 ms until stopped; the peaks are per process.
type peakSampler struct {
	pids       []int
	anon, file []int64
	stop, done chan struct{}
}

func samplePeaks(pids ...int) *peakSampler {
	s := &peakSampler{pids: pids, anon: make([]int64, len(pids)), file: make([]int64, len(pids)),
		stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			for i, pid := range s.pids {
				a, f := procMemory(pid)
				s.anon[i], s.file[i] = max(s.anon[i], a), max(s.file[i], f)
			}
			select {
			case <-s.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return s
}

// report ends the sampling and reports each process's peaks under its name.
func (s *peakSampler) report(b *testing.B, names ...string) {
	close(s.stop)
	<-s.done
	for i, n := range names {
		b.ReportMetric(float64(s.anon[i])/(1<<20), n+"-peak-rss-anon-MiB")
		b.ReportMetric(float64(s.file[i])/(1<<20), n+"-peak-rss-file-MiB")
	}
}

// spoolLeft waits (at most 30 s) for the spool directories under the
// data directories to empty and reports the files left in them (spool
// files of delivered messages, .push links of copies on receipt).
func spoolLeft(b *testing.B, dataDirs ...string) {
	b.Helper()
	left := 0
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		left = 0
		var names []string
		for _, d := range dataDirs {
			e, _ := os.ReadDir(d + "/spool")
			left += len(e)
			for _, f := range e {
				names = append(names, d+": "+f.Name())
			}
		}
		if left == 0 || time.Now().After(deadline) {
			if left > 0 {
				b.Logf("spool files left: %v", names)
			}
			break
		}
	}
	b.ReportMetric(float64(left), "spool-files-left")
}

// dataOf is the data directory of a daemon whose configuration the test
// helpers wrote (data beside the configuration file).
func dataOf(d *daemon) string { return filepath.Join(filepath.Dir(d.cfg), "data") }

// mustLog fails unless the daemon's log has at least n lines containing s.
func mustLog(b *testing.B, d *daemon, s string, n int) {
	b.Helper()
	log, _ := os.ReadFile(d.log)
	if got := strings.Count(string(log), s); got < n {
		b.Fatalf("%s: %d log lines with %q, want %d", d.cfg, got, s, n)
	}
}

// waitCount waits until count() reaches n (at most 10 minutes).
func waitCount(b *testing.B, what string, n int64, count func() int64) {
	b.Helper()
	for deadline := time.Now().Add(10 * time.Minute); count() < n; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("%s: %d of %d", what, count(), n)
		}
	}
}

// runSource runs smtp-source: sessions concurrent sessions of one size-byte
// message each, to rcpt.
func runSource(b *testing.B, addr string, sessions, size int, rcpt string) {
	b.Helper()
	out, err := exec.Command(needTool(b, "smtp-source"), "-s", strconv.Itoa(sessions), "-m", strconv.Itoa(sessions),
		"-l", strconv.Itoa(size), "-f", "sender@example.org", "-t", rcpt, addr).CombinedOutput()
	if err != nil {
		b.Fatalf("smtp-source: %v\n%s", err, out)
	}
}

// sendBDAT sends one message of size bytes to addr with BDAT chunks of
// chunk bytes (the last one marked LAST), generated as it is sent: the
// client holds no body.
func sendBDAT(addr string, size, chunk int) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	r := bufio.NewReader(c)
	w := bufio.NewWriterSize(c, 64<<10)
	reply := func() error {
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return err
			}
			if len(l) < 4 || l[0] != '2' {
				return fmt.Errorf("reply %q", strings.TrimSpace(l))
			}
			if l[3] == ' ' {
				return nil
			}
		}
	}
	cmd := func(s string) error {
		w.WriteString(s + "\r\n")
		if err := w.Flush(); err != nil {
			return err
		}
		return reply()
	}
	if err := reply(); err != nil {
		return err
	}
	for _, s := range []string{"EHLO client.example", "MAIL FROM:<sender@example.org> BODY=8BITMIME", "RCPT TO:<rcpt@remote.example>"} {
		if err := cmd(s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	msg := io.MultiReader(strings.NewReader("From: <sender@example.org>\r\nTo: <rcpt@remote.example>\r\nSubject: bdat\r\n\r\n"),
		&lineSource{n: size})
	for sent := 0; sent < size; {
		n := min(chunk, size-sent)
		last := ""
		if sent+n == size {
			last = " LAST"
		}
		fmt.Fprintf(w, "BDAT %d%s\r\n", n, last)
		if _, err := io.CopyN(w, msg, int64(n)); err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			return err
		}
		if err := reply(); err != nil {
			return fmt.Errorf("BDAT: %w", err)
		}
		sent += n
	}
	return cmd("QUIT")
}

// lineSource is n bytes of 78-character lines (the last one short).
type lineSource struct{ n, off int }

func (l *lineSource) Read(p []byte) (int, error) {
	if l.off >= l.n {
		return 0, io.EOF
	}
	k := 0
	for k < len(p) && l.off < l.n {
		switch l.off % 80 {
		case 78:
			p[k] = '\r'
		case 79:
			p[k] = '\n'
		default:
			p[k] = 'a' + byte(l.off%26)
		}
		k++
		l.off++
	}
	return k, nil
}

// BenchmarkLargeMessagesMemoryPaths: the paths of a large message that
// BenchmarkLargeMessagesMemory (plain relay, DATA) does not take, each
// with 25 MiB messages at once, and the peak anonymous resident memory
// of every daemon involved:
//   - bdat: 50 messages by BDAT, each in one 25 MiB chunk;
//   - dkim: 50 relayed messages DKIM-signed on the way out;
//   - maildir: 50 messages to a local mailbox (Maildir);
//   - lmtp: 50 messages to a local mailbox over LMTP;
//   - dsn: 50 messages refused by the next hop after their content (5xx),
//     each bounced with a DSN (headers only, as without RET=FULL);
//   - pickup: 10 files dropped at once into the pickup directory;
//   - shadow-two-hops: 10 messages through hub-a to hub-b with shadow
//     redundancy (hub-a keeps a shadow copy, XSHADOW) and the default
//     delayed acknowledgement (30 s);
//   - shadow-on-receipt: 10 messages to hub-a, which pushes a copy of each
//     to hub-a2 before its 250 (shadow_on_receipt: local-only).
func BenchmarkLargeMessagesMemoryPaths(b *testing.B) {
	const size = 25 << 20
	relay := func(b *testing.B, edit func(dir, cfg string)) (listen string, sink interface{ Load() int64 }, d *daemon) {
		dir := b.TempDir()
		listen, sinkAddr := freeAddr(b, "127.0.0.1"), freeAddr(b, "127.0.0.1")
		sink = startCountingSink(b, sinkAddr)
		cfg := relayConfig(b, dir, listen, sinkAddr)
		if edit != nil {
			edit(dir, cfg)
		}
		return listen, sink, startUmbra(b, cfg, listen)
	}
	b.Run("bdat", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			const n = 50
			listen, sink, d := relay(b, nil)
			s := samplePeaks(d.cmd.Process.Pid)
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for k := 0; k < n; k++ {
				wg.Add(1)
				go func() { defer wg.Done(); errs <- sendBDAT(listen, size, size) }()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					b.Fatal(err)
				}
			}
			waitCount(b, "sink", n, sink.Load)
			s.report(b, "umbra")
			spoolLeft(b, dataOf(d))
			d.kill()
		}
	})
	b.Run("dkim", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			const n = 50
			var metrics string
			listen, sink, d := relay(b, func(dir, cfg string) {
				keygen(b, dir, "example.org", "big")
				f, _ := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
				f.WriteString("dkim:\n  keys:\n    - {domain: example.org, selector: big, key_file: example.org.big.key}\n")
				f.Close()
				markInternal(b, cfg)
				metrics = withMetrics(b, cfg)
			})
			s := samplePeaks(d.cmd.Process.Pid)
			runSource(b, listen, n, size, "rcpt@remote.example")
			waitCount(b, "sink", n, sink.Load)
			s.report(b, "umbra")
			spoolLeft(b, dataOf(d))
			if got := metricValue(b, metrics, `umbra_dkim_signatures_total{result="signed"}`); got != n { // the path taken
				b.Fatalf("%v messages signed, want %d", got, n)
			}
			d.kill()
		}
	})
	b.Run("maildir", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			const n = 50
			var data string
			listen, _, d := relay(b, func(dir, cfg string) { data = dir + "/data" })
			s := samplePeaks(d.cmd.Process.Pid)
			runSource(b, listen, n, size, "rcpt@example.test")
			waitCount(b, "maildir", n, func() int64 {
				e, _ := os.ReadDir(data + "/maildir/example.test/rcpt/new")
				return int64(len(e))
			})
			s.report(b, "umbra")
			spoolLeft(b, dataOf(d))
			d.kill()
		}
	})
	b.Run("lmtp", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			const n = 50
			lmtpAddr := freeAddr(b, "127.0.0.1")
			lmtp := startCountingSink(b, lmtpAddr, "-L")
			listen, _, d := relay(b, func(dir, cfg string) {
				editConfig(b, cfg, "mailbox:\n  maildir: maildir\n", "mailbox:\n  lmtp: "+lmtpAddr+"\n")
			})
			s := samplePeaks(d.cmd.Process.Pid)
			runSource(b, listen, n, size, "rcpt@example.test")
			waitCount(b, "lmtp", n, lmtp.Load)
			s.report(b, "umbra")
			spoolLeft(b, dataOf(d))
			d.kill()
		}
	})
	b.Run("dsn", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			const n = 50
			dir := b.TempDir()
			listen, sinkAddr := freeAddr(b, "127.0.0.1"), freeAddr(b, "127.0.0.1")
			startCountingSink(b, sinkAddr, "-f", ".") // every message refused after its content: 5xx
			d := startUmbra(b, relayConfig(b, dir, listen, sinkAddr), listen)
			s := samplePeaks(d.cmd.Process.Pid)
			runSource(b, listen, n, size, "rcpt@remote.example")
			// Each message fails and gets a DSN, which the sink refuses too
			// (a DSN's DSN is not sent): 2n failures.
			waitCount(b, "failures", 2*n, func() int64 {
				log, _ := os.ReadFile(d.log)
				return int64(strings.Count(string(log), "event=fail "))
			})
			s.report(b, "umbra")
			spoolLeft(b, dataOf(d))
			mustLog(b, d, "event=dsn ", n)
			d.kill()
		}
	})
	b.Run("pickup", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			const n = 10
			var pickup string
			_, sink, d := relay(b, func(dir, cfg string) {
				pickup = dir + "/pickup"
				os.MkdirAll(pickup, 0o700)
				f, _ := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
				f.WriteString("pickup: {directory: " + pickup + ", interval: 100ms}\n")
				f.Close()
			})
			s := samplePeaks(d.cmd.Process.Pid)
			for k := 0; k < n; k++ {
				tmp := fmt.Sprintf("%s/.m%d.tmp", pickup, k)
				f, err := os.Create(tmp)
				if err != nil {
					b.Fatal(err)
				}
				w := bufio.NewWriterSize(f, 1<<20)
				w.WriteString("X-Receiver: rcpt@remote.example\nFrom: <sender@example.org>\nSubject: pickup\n\n")
				io.Copy(w, &lineSource{n: size})
				w.Flush()
				f.Close()
				os.Rename(tmp, fmt.Sprintf("%s/m%d.eml", pickup, k))
			}
			waitCount(b, "sink", n, sink.Load)
			s.report(b, "umbra")
			spoolLeft(b, dataOf(d))
			d.kill()
		}
	})
	b.Run("shadow-two-hops", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			const n = 10
			p := newShadowPairAck(b, "30s")
			sink := startCountingSink(b, p.sink)
			hub := startUmbra(b, p.cfgB, p.b)
			edge := startUmbra(b, p.cfgA, p.a)
			s := samplePeaks(edge.cmd.Process.Pid, hub.cmd.Process.Pid)
			runSource(b, p.a, n, size, "rcpt@remote.example")
			waitCount(b, "sink", n, sink.Load)
			s.report(b, "hub-a", "hub-b")
			spoolLeft(b, dataOf(edge), dataOf(hub))
			mustLog(b, edge, "event=shadow ", n) // the path taken: hub-a kept shadow copies
			edge.kill()
			hub.kill()
		}
	})
	b.Run("shadow-on-receipt", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			const n = 10
			a, cfgA, cfgA2, sinkAddr := receiptBenchOrg(b, "local-only")
			sink := startCountingSink(b, sinkAddr)
			a2 := startUmbra(b, cfgA2, a2Addr(b, cfgA2))
			ha := startUmbra(b, cfgA, a)
			s := samplePeaks(ha.cmd.Process.Pid, a2.cmd.Process.Pid)
			runSource(b, a, n, size, "rcpt@remote.example")
			waitCount(b, "sink", n, sink.Load)
			s.report(b, "hub-a", "hub-a2")
			spoolLeft(b, dataOf(ha), dataOf(a2))
			mustLog(b, a2, `reply="shadow copy on receipt for hub-a"`, n) // the path taken: hub-a2 kept the copies
			ha.kill()
			a2.kill()
		}
	})
}
