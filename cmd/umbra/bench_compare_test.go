package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/queue"
	"umbra/internal/testsupport"
)

// startCountingSink runs Postfix's smtp-sink on addr and counts the
// messages it received from its running counters (no dump file to read
// back, so counting costs nothing during a measurement).
func startCountingSink(b *testing.B, addr string, flags ...string) *atomic.Int64 {
	b.Helper()
	bin := needTool(b, "smtp-sink")
	testsupport.Release(addr)                                     // a reserved address: smtp-sink binds it
	args := append(append([]string{"-c"}, flags...), addr, "512") // flags: -L speaks LMTP
	if os.Geteuid() == 0 {
		args = append([]string{"-u", "nobody"}, args...)
	}
	cmd := exec.Command(bin, args...)
	out, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var n atomic.Int64
	mesg := regexp.MustCompile(`mesg=(\d+)`)
	go func() {
		sc := bufio.NewScanner(out)
		sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
			if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
				return i + 1, data[:i], nil
			}
			if atEOF && len(data) > 0 {
				return len(data), data, nil
			}
			return 0, nil, nil
		})
		for sc.Scan() {
			if m := mesg.FindSubmatch(sc.Bytes()); m != nil {
				v, _ := strconv.ParseInt(string(m[1]), 10, 64)
				n.Store(v)
			}
		}
	}()
	waitListening(b, addr, &stderr)
	return &n
}

// startPostfix runs a throwaway Postfix instance (its own configuration,
// queue and log under a temporary directory) that accepts mail from
// loopback on listen and relays everything to relay. Postfix fsyncs each
// queue file before its 250, as umbra commits before its own. It needs
// root (Postfix's master runs its daemons as the postfix user).
func startPostfix(b *testing.B, listen, relay string) {
	b.Helper()
	needTool(b, "postfix")
	if os.Geteuid() != 0 {
		b.Skip("a Postfix instance needs root")
	}
	dir, err := os.MkdirTemp("", "umbra-bench-postfix")
	if err != nil {
		b.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	for _, d := range []string{"etc", "spool", "data"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	exec.Command("chown", "postfix", filepath.Join(dir, "data")).Run()
	master, err := os.ReadFile("/etc/postfix/master.cf")
	if err != nil {
		b.Fatal(err)
	}
	var mc []string
	for _, l := range strings.Split(string(master), "\n") {
		if f := strings.Fields(l); len(f) > 7 && f[0] == "smtp" && f[1] == "inet" {
			l = listen + " inet n - n - - smtpd" // no chroot: the spool is not under /var/spool
		}
		mc = append(mc, l)
	}
	os.WriteFile(filepath.Join(dir, "etc", "master.cf"), []byte(strings.Join(mc, "\n")), 0o644)
	os.WriteFile(filepath.Join(dir, "etc", "main.cf"), []byte(fmt.Sprintf(`compatibility_level = 3.6
queue_directory = %[1]s/spool
data_directory = %[1]s/data
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = postfix.bench.test
mydestination =
mynetworks = 127.0.0.0/8
relayhost = [%[2]s]:%[3]s
smtpd_recipient_restrictions = permit_mynetworks, reject
maillog_file_prefixes = %[1]s
maillog_file = %[1]s/maillog
default_process_limit = 200
smtp_destination_concurrency_limit = 20
`, dir, strings.Split(relay, ":")[0], strings.Split(relay, ":")[1])), 0o644)
	etc := filepath.Join(dir, "etc")
	if out, err := exec.Command("postfix", "-c", etc, "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "maillog"))
		b.Fatalf("postfix start: %v %s\n%s", err, out, log)
	}
	b.Cleanup(func() {
		exec.Command("postfix", "-c", etc, "stop").Run()
		time.Sleep(500 * time.Millisecond)
		os.RemoveAll(dir)
	})
	waitListening(b, listen, &bytes.Buffer{})
}

// BenchmarkRelayVsPostfix: smtp-source → MTA → smtp-sink on loopback,
// umbra and Postfix side by side in the same run, for 4 KiB and 100 KiB
// messages over 1, 20 and 100 sessions, and 4 KiB messages with 10
// recipients each over 20 sessions (rcpts=10: both MTAs relay each
// message once to the sink with its 10 recipients). Both make each
// message durable (fsync) before their 250. The clock runs from the
// first connection until the sink has every message.
func BenchmarkRelayVsPostfix(b *testing.B) {
	source := needTool(b, "smtp-source")
	type relayCase struct{ size, sessions, rcpts int }
	var cases []relayCase
	for _, size := range []int{4 << 10, 100 << 10} {
		for _, sessions := range []int{1, 20, 100} {
			cases = append(cases, relayCase{size, sessions, 1})
		}
	}
	cases = append(cases, relayCase{4 << 10, 20, 10})
	for _, c := range cases {
		size, sessions, rcpts := c.size, c.sessions, c.rcpts
		{
			msgs := map[int]int{1: 1000, 20: 3000, 100: 3000}[sessions]
			if size > 4<<10 {
				msgs /= 3
			}
			for _, mta := range []string{"umbra", "postfix"} {
				name := fmt.Sprintf("size=%dKiB/sessions=%d/mta=%s", size>>10, sessions, mta)
				if rcpts > 1 {
					name = fmt.Sprintf("size=%dKiB/rcpts=%d/sessions=%d/mta=%s", size>>10, rcpts, sessions, mta)
				}
				b.Run(name, func(b *testing.B) {
					for i := 0; i < b.N; i++ {
						b.StopTimer()
						listen, sinkAddr := freeAddr(b, "127.0.0.1"), freeAddr(b, "127.0.0.1")
						sink := startCountingSink(b, sinkAddr)
						var d *daemon
						if mta == "umbra" {
							d = startUmbra(b, relayConfig(b, b.TempDir(), listen, sinkAddr), listen)
						} else {
							startPostfix(b, listen, sinkAddr)
						}
						b.StartTimer()
						start := time.Now()
						out, err := exec.Command(source, "-s", strconv.Itoa(sessions), "-m", strconv.Itoa(msgs), "-l", strconv.Itoa(size),
							"-r", strconv.Itoa(rcpts), "-f", "sender@example.org", "-t", "rcpt@remote.example", listen).CombinedOutput()
						if err != nil {
							b.Fatalf("smtp-source: %v\n%s", err, out)
						}
						accepted := time.Since(start)
						for deadline := time.Now().Add(10 * time.Minute); sink.Load() < int64(msgs); time.Sleep(2 * time.Millisecond) {
							if time.Now().After(deadline) {
								b.Fatalf("sink got %d of %d", sink.Load(), msgs)
							}
						}
						total := time.Since(start)
						b.StopTimer()
						b.ReportMetric(float64(msgs)/total.Seconds(), "msgs/s")
						b.ReportMetric(float64(msgs)/accepted.Seconds(), "accepted-msgs/s")
						if d != nil {
							d.kill()
						}
					}
				})
			}
		}
	}
}

// BenchmarkQueuedMemory: a daemon holding 100,000 or 1,000,000 queued
// messages whose next hop is down. The database is written directly
// (as if the mail had arrived over days), then umbra starts on it. It
// reports the start time, resident memory (anonymous, and the mapped
// database file), the time
// `umbra queue list` takes, and the time a new message takes to be
// accepted while the queue retries.
func BenchmarkQueuedMemory(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("queued=%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				dir := b.TempDir()
				listen := freeAddr(b, "127.0.0.1")
				cfg := relayConfig(b, dir, listen, freeAddr(b, "127.0.0.1")) // nothing listens there
				// What a new message costs with a million queued, not what
				// back pressure does then (it refuses it: total_queue).
				f, _ := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
				f.WriteString("back_pressure: {enabled: false}\n")
				f.Close()
				os.MkdirAll(filepath.Join(dir, "data"), 0o700)
				fillQueue(b, filepath.Join(dir, "data", "queue.db"), n)
				fi, _ := os.Stat(filepath.Join(dir, "data", "queue.db"))
				start := time.Now()
				d := startUmbra(b, cfg, listen)
				started := time.Since(start)
				time.Sleep(10 * time.Second) // retries under way
				anon, file := procMemory(d.cmd.Process.Pid)
				t0 := time.Now()
				out, code := cli(b, cfg, "queue", "list")
				list := time.Since(t0)
				if code != 0 || !strings.Contains(out, "smarthost:sink") {
					b.Fatalf("queue list: exit %d\n%s", code, out)
				}
				t0 = time.Now()
				if ok, err := send(listen, "while-queued"); !ok {
					b.Fatalf("no 250 while %d are queued: %v", n, err)
				}
				accept := time.Since(t0)
				b.ReportMetric(float64(fi.Size())/(1<<20), "db-MiB")
				b.ReportMetric(started.Seconds(), "start-s")
				b.ReportMetric(float64(anon)/(1<<20), "rss-anon-MiB")
				b.ReportMetric(float64(file)/(1<<20), "rss-file-MiB")
				b.ReportMetric(float64(list.Milliseconds()), "queue-list-ms")
				b.ReportMetric(float64(accept.Milliseconds()), "accept-ms")
				d.kill()
			}
		})
	}
}

// fillQueue writes n messages of 1 KiB, waiting for the "sink" smart
// host, due over the next hour, in large transactions.
func fillQueue(b *testing.B, path string, n int) {
	b.Helper()
	s, err := queue.Open(path, queue.Options{UnsafeNoSync: true, MaxBatch: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	body := []byte("Subject: queued\r\n\r\n" + strings.Repeat("x", 1000) + "\r\n")
	now := time.Now()
	for done := 0; done < n; {
		err := s.Update(context.Background(), func(tx *queue.Tx) error {
			for k := 0; k < 10000 && done+k < n; k++ {
				id := tx.NewID(now) // inside the transaction: Store.NewID may wait for a commit
				m := &queue.Message{ID: id, State: queue.Ready, From: "a@example.org", Arrived: now, Size: int64(len(body)),
					NextAttempt: now.Add(time.Duration(done+k) * time.Hour / time.Duration(n)), Attempts: 1,
					Rcpts: []queue.Recipient{{Addr: "b@remote.example", Queue: "smarthost:sink", NextHop: "sink", LastReply: "451 4.4.1 connection refused"}}}
				if err := tx.PutNew(m, body); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		done += 10000
	}
}

// procMemory reads a process's resident memory: anonymous (heap,
// stacks: what umbra allocates) and file-backed (the mapped transport
// database: page cache the kernel reclaims under pressure).
func procMemory(pid int) (anon, file int64) {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			switch f[0] {
			case "RssAnon:":
				anon = v << 10
			case "RssFile:":
				file = v << 10
			}
		}
	}
	return anon, file
}
