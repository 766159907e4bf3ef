package smtp

import (
	"context"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/config"
)

// headerHeavyMessage is a DATA payload (stuffed, end marker included) of
// a message with a header section of about hsize bytes in 100-byte
// fields and a body that brings it to size bytes.
func headerHeavyMessage(hsize, size int) []byte {
	field := "X-Filler: " + strings.Repeat("f", 88) + "\r\n"
	head := strings.Repeat(field, hsize/len(field)) + "Subject: heavy\r\n\r\n"
	line := strings.Repeat("b", 76) + "\r\n"
	return []byte(head + strings.Repeat(line, (size-len(head))/len(line)) + ".\r\n")
}

// BenchmarkReceiveLargeHeader: a 3 MB message with a 1 MB header section
// received by DATA past the spool threshold (the queue keeps sizes, the
// file is removed). B/op is what the receive side allocates per message
// (the client writes one shared buffer); peak-heap-MiB is the most heap
// in use while `sessions` such messages arrive at once, over the level
// before, per session: the figure max_header_size is to bound;
// peak-rss-anon-MiB/session the same of the process's anonymous resident
// memory (the collector's slack included).
func BenchmarkReceiveLargeHeader(b *testing.B) {
	msg := headerHeavyMessage(1_000_000, 3_000_000)
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
	st, _ := spoolStore(b)
	q := &lenQueue{}
	s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: c.ReceiveConnectors, Routing: testTable(), Queue: q,
		Spool: st.NewSpool, SpoolThreshold: 256 << 10})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		b.Fatal(err)
	}
	s.Serve()
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	addr := s.Addrs()[0].String()
	b.Run("one", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(msg)))
		for range b.N {
			if err := sendLarge(addr, msg); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("concurrent", func(b *testing.B) {
		// The sessions send their messages but the end marker, wait
		// for one another, then all end their DATA at once: the peak
		// covers the sinks (header section, write buffer) and the
		// end-of-data work of every session at the same time.
		const sessions = 50
		body, end := msg[:len(msg)-3], msg[len(msg)-3:]
		for range b.N {
			debug.FreeOSMemory() // collects, and gives the heap back: the RSS base is the live heap
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			base := ms.HeapInuse
			baseRSS := rssAnon()
			var peak uint64
			var peakRSS int64
			stop, sampled := make(chan struct{}), make(chan struct{})
			go func() {
				defer close(sampled)
				for {
					var m runtime.MemStats
					runtime.ReadMemStats(&m)
					peak = max(peak, m.HeapInuse)
					peakRSS = max(peakRSS, rssAnon())
					select {
					case <-stop:
						return
					case <-time.After(time.Millisecond):
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
					errs <- sendHeld(addr, body, end, &sent, release)
				}()
			}
			sent.Wait()
			time.Sleep(500 * time.Millisecond) // the server has read what was sent
			close(release)
			wg.Wait()
			close(stop)
			<-sampled
			close(errs)
			for err := range errs {
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(peak-base)/(1<<20)/sessions, "peak-heap-MiB/session")
			b.ReportMetric(float64(peakRSS-baseRSS)/(1<<20)/sessions, "peak-rss-anon-MiB/session")
		}
	})
}

// sendHeld sends a message by DATA without its end marker, says so on
// sent, and sends the end marker once release is closed.
func sendHeld(addr string, body, end []byte, sent *sync.WaitGroup, release chan struct{}) error {
	done := false
	defer func() {
		if !done {
			sent.Done()
		}
	}()
	c, expect, err := openDataSession(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Write(body); err != nil {
		return err
	}
	done = true
	sent.Done()
	<-release
	if _, err := c.Write(end); err != nil {
		return err
	}
	return expect("250")
}
