package main

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// heldSession sends a message by DATA without its end marker, says so
// on sent, and ends it once release is closed, expecting a 250.
func heldSession(addr string, body []byte, sent *sync.WaitGroup, release chan struct{}) error {
	once := sync.OnceFunc(sent.Done)
	defer once()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Minute))
	r := bufio.NewReader(c)
	expect := func(want string) error {
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return err
			}
			if len(l) < 4 || l[3] != '-' {
				if !strings.HasPrefix(l, want) {
					return fmt.Errorf("got %q, want %s", l, want)
				}
				return nil
			}
		}
	}
	if err := expect("220"); err != nil {
		return err
	}
	for _, step := range [][2]string{{"EHLO c\r\n", "250"}, {"MAIL FROM:<a@example.org>\r\n", "250"},
		{"RCPT TO:<b@remote.example>\r\n", "250"}, {"DATA\r\n", "354"}} {
		if _, err := c.Write([]byte(step[0])); err != nil {
			return err
		}
		if err := expect(step[1]); err != nil {
			return err
		}
	}
	if _, err := c.Write(body); err != nil {
		return err
	}
	once()
	<-release
	if _, err := c.Write([]byte(".\r\n")); err != nil {
		return err
	}
	if err := expect("250"); err != nil {
		return err
	}
	c.Write([]byte("QUIT\r\n"))
	return nil
}

// BenchmarkLargeHeaderSessionsMemory: 50 sessions each send a message
// with a 1 MB header section (100-byte fields) and a 64 KB body to the
// daemon, all but the end marker, wait for one another, then end their
// DATA at once; the messages are relayed to smtp-sink. It reports the
// daemon's peak anonymous resident memory over its level before, per
// session (the collector's slack included), while the bodies are held
// (held) and through their commit and relay (peak), on a new database
// (its file grows under the commits, and bbolt copies every value a
// commit holds at each new mapping).
//
//	cd cmd/umbra && flock -o /tmp/umbra-bench.lock go test -run '^$' -bench LargeHeaderSessionsMemory -benchtime 1x .
func BenchmarkLargeHeaderSessionsMemory(b *testing.B) {
	const sessions = 50
	field := "X-Filler: " + strings.Repeat("f", 88) + "\r\n"
	head := strings.Repeat(field, 1_000_000/len(field)) + "From: a@example.org\r\nSubject: heavy\r\n\r\n"
	body := []byte(head + strings.Repeat(strings.Repeat("b", 76)+"\r\n", 64_000/78))
	for i := 0; i < b.N; i++ {
		listen, sinkAddr := freeAddr(b, "127.0.0.1"), freeAddr(b, "127.0.0.1")
		sink := startCountingSink(b, sinkAddr)
		d := startUmbra(b, relayConfig(b, b.TempDir(), listen, sinkAddr), listen)
		time.Sleep(time.Second) // settled after the start
		baseAnon, _ := procMemory(d.cmd.Process.Pid)
		held, peakAnon := heldRound(b, d, listen, body, sessions, func() int64 { return sink.Load() }, sessions)
		b.ReportMetric(float64(peakAnon-baseAnon)/(1<<20)/sessions, "peak-rss-anon-MiB/session")
		b.ReportMetric(float64(held-baseAnon)/(1<<20)/sessions, "held-rss-anon-MiB/session")
		d.kill()
	}
}

// heldRound runs one round of BenchmarkLargeHeaderSessionsMemory and
// returns the daemon's peak anonymous memory while the bodies were held
// and over the whole round.
func heldRound(b *testing.B, d *daemon, listen string, body []byte, sessions int, relayed func() int64, want int64) (held, peakAnon int64) {
	var peak atomic.Int64
	stop, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if a, _ := procMemory(d.cmd.Process.Pid); a > peak.Load() {
				peak.Store(a)
			}
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	var sent, wg sync.WaitGroup
	release := make(chan struct{})
	errs := make(chan error, sessions)
	for range sessions {
		wg.Add(1)
		sent.Add(1)
		go func() {
			defer wg.Done()
			errs <- heldSession(listen, body, &sent, release)
		}()
	}
	sent.Wait()
	time.Sleep(time.Second) // the daemon has read what was sent
	held = peak.Load()
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	waitCount(b, "relayed", want, relayed)
	close(stop)
	<-sampled
	return held, peak.Load()
}
