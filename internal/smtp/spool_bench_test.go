package smtp

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// lenQueue takes messages and keeps only their sizes: the receive side's
// memory is measured alone, whatever the store does with a body. A
// spooled body's file is removed once taken.
type lenQueue struct {
	mu    sync.Mutex
	next  queue.ID
	sizes []int64
}

func (q *lenQueue) NewID() queue.ID {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.next++
	return q.next
}

func (q *lenQueue) Submit(_ context.Context, _ *queue.Message, body []byte) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.sizes = append(q.sizes, int64(len(body)))
	return nil
}

func (q *lenQueue) SubmitBody(ctx context.Context, m *queue.Message, body queue.Body) error {
	q.mu.Lock()
	q.sizes = append(q.sizes, body.Len())
	q.mu.Unlock()
	if path, _, _ := body.File(); path != "" {
		os.Remove(path)
	}
	return nil
}

func (q *lenQueue) WaitGone(queue.ID) (<-chan struct{}, func()) {
	ch := make(chan struct{})
	close(ch)
	return ch, func() {}
}

func rssAnon() int64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "RssAnon:" {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			return v << 10
		}
	}
	return 0
}

// BenchmarkReceiveLargeMemory: 50 sessions each send one 25 MiB message
// by DATA at once to the receive side alone (the queue keeps sizes), in
// memory and spooled past the default threshold. It reports the peak
// anonymous resident memory of the process over its level before the
// sessions (the clients' one shared message included).
func BenchmarkReceiveLargeMemory(b *testing.B) {
	const sessions, size = 50, 25 << 20
	line := strings.Repeat("x", 76) + "\r\n"
	msg := []byte("Subject: large\r\n\r\n" + strings.Repeat(line, size/len(line)) + ".\r\n")
	for _, spooled := range []bool{false, true} {
		b.Run(map[bool]string{false: "memory", true: "spooled"}[spooled], func(b *testing.B) {
			for range b.N {
				st, _ := spoolStore(b)
				q := &lenQueue{}
				c, err := config.Parse([]byte(`server: {name: mx.test}
receive_connectors:
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {max_message_size: 64MiB, max_connections: 100, max_connections_per_source: 100}
`), "bench.yaml")
				if err != nil {
					b.Fatal(err)
				}
				cfg := ServerConfig{Hostname: "mx.test", Connectors: c.ReceiveConnectors, Routing: testTable(), Queue: q}
				if spooled {
					cfg.Spool, cfg.SpoolThreshold = st.NewSpool, 256<<10
				}
				s, err := NewServer(cfg)
				if err != nil {
					b.Fatal(err)
				}
				if err := s.Listen(); err != nil {
					b.Fatal(err)
				}
				s.Serve()
				debug.FreeOSMemory() // what an earlier run left is not counted
				base := rssAnon()
				var peak int64
				stop, sampled := make(chan struct{}), make(chan struct{})
				go func() {
					defer close(sampled)
					for {
						peak = max(peak, rssAnon())
						select {
						case <-stop:
							return
						case <-time.After(20 * time.Millisecond):
						}
					}
				}()
				var wg sync.WaitGroup
				errs := make(chan error, sessions)
				for range sessions {
					wg.Add(1)
					go func() {
						defer wg.Done()
						errs <- sendLarge(s.Addrs()[0].String(), msg)
					}()
				}
				wg.Wait()
				close(stop)
				<-sampled
				close(errs)
				for err := range errs {
					if err != nil {
						b.Fatal(err)
					}
				}
				if len(q.sizes) != sessions {
					b.Fatalf("%d messages taken", len(q.sizes))
				}
				b.ReportMetric(float64(peak-base)/(1<<20), "peak-rss-anon-MiB")
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				s.Shutdown(ctx)
				cancel()
			}
		})
	}
}

// openDataSession opens a session at addr and takes it to DATA (354)
// for a message from a@example.org to b@example.test; expect reads the
// next reply and says whether it starts with want. The connection's
// deadline is five minutes away.
func openDataSession(addr string) (c net.Conn, expect func(want string) error, err error) {
	c, err = net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, nil, err
	}
	c.SetDeadline(time.Now().Add(5 * time.Minute))
	r := bufio.NewReader(c)
	expect = func(want string) error {
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
		c.Close()
		return nil, nil, err
	}
	for _, step := range [][2]string{{"EHLO c\r\n", "250"}, {"MAIL FROM:<a@example.org>\r\n", "250"}, {"RCPT TO:<b@example.test>\r\n", "250"}, {"DATA\r\n", "354"}} {
		if _, err := c.Write([]byte(step[0])); err != nil {
			c.Close()
			return nil, nil, err
		}
		if err := expect(step[1]); err != nil {
			c.Close()
			return nil, nil, err
		}
	}
	return c, expect, nil
}

// sendLarge sends msg by DATA (msg ends with its end marker) in writes
// of 64 KiB and expects the 250.
func sendLarge(addr string, msg []byte) error {
	c, expect, err := openDataSession(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	for p := msg; len(p) > 0; {
		n := min(len(p), 64<<10)
		if _, err := c.Write(p[:n]); err != nil {
			return err
		}
		p = p[n:]
	}
	return expect("250")
}
