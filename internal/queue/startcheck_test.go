package queue

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The start check of spool files uses what the checksums allow without
// reading every spooled byte: a summed file that lost its checksum
// (cut by as little as its last byte) and a spooled body whose header
// section in the database does not match its checksum are found at
// start and held as poison at once, before any attempt; a sound one is
// delivered.
func TestStartCheckUsesChecksums(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	// Small bodies beside: a bucket too large to be stored inline, whose
	// values bbolt maps from the file's own pages.
	for range 8 {
		m := msg(s, "a@example.org", "b@example.test")
		m.State, m.NextAttempt = Ready, time.Now().Add(-time.Second)
		if err := s.Update(context.Background(), func(tx *Tx) error {
			return tx.PutNew(m, []byte("Subject: filler\r\n\r\n"+strings.Repeat("filler text ", 100)))
		}); err != nil {
			t.Fatal(err)
		}
	}
	content := bigContent(300 << 10)
	var ms []*Message
	var bs []Body
	for range 3 {
		b, err := spooled(t, s, content).WithHead([]byte("Received: by mx.test; the receiving server's head\r\n"), 0)
		if err != nil {
			t.Fatal(err)
		}
		m := msg(s, "a@example.org", "b@example.test")
		m.State, m.NextAttempt = Ready, time.Now().Add(-time.Second)
		if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNewBody(m, b) }); err != nil {
			t.Fatal(err)
		}
		ms, bs = append(ms, m), append(bs, b)
	}
	s.Close()
	cut, head := ms[0], ms[1] // ms[2] is sound
	p, _, _ := bs[0].File()
	fi, _ := os.Stat(p)
	if err := os.Truncate(p, fi.Size()-1); err != nil { // one byte of its checksum
		t.Fatal(err)
	}
	off, v := bodyOffsetClosed(t, path, head.ID)
	flipInFile(t, path, off+int64(bytes.Index(v, []byte("receiving"))), []byte("r"))

	s, err = Open(path, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	attempted := make(chan ID, 16)
	d := bodyDelivererFunc(func(ctx context.Context, m *Message, body Body, rcpts []int) []Result {
		attempted <- m.ID
		var res []Result
		for _, i := range rcpts {
			res = append(res, Result{Rcpt: i, Outcome: RelayedOK, Reply: "250 2.0.0 ok"})
		}
		return res
	})
	q := NewManager(s, d, ManagerConfig{Hostname: "mx.test"})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	waitFor(t, "the sound messages delivered", func() bool { return len(messages(t, s)) == 2 })
	for range 9 {
		if id := <-attempted; id == cut.ID || id == head.ID {
			t.Fatalf("attempted %s", id)
		}
	}
	for _, id := range []ID{cut.ID, head.ID} {
		m, err := q.Message(id)
		if err != nil || m.State != Poison || !strings.Contains(m.LastError, "found at start") {
			t.Fatalf("%s: %v %q, %v; want poison, found at start", id, m.State, m.LastError, err)
		}
	}
	select {
	case id := <-attempted:
		t.Fatalf("attempted %s too", id)
	default:
	}
}

// BenchmarkStartCheckSpooled is the start's check of N spooled messages
// of 256 KiB (UMBRA_BENCH_SPOOLED, default 2000: 500 MiB of spool
// files), as Start runs it (damagedSpool: a stat per file, a header
// section's checksum per body), against reading every file against its
// checksum (what a full check at start would cost), with the page cache
// dropped by nothing: a warm start.
func BenchmarkStartCheckSpooled(b *testing.B) {
	n := 2000
	if v := os.Getenv("UMBRA_BENCH_SPOOLED"); v != "" {
		fmt.Sscan(v, &n)
	}
	s, err := Open(filepath.Join(b.TempDir(), "queue.db"), Options{UnsafeNoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	content := bigContent(256 << 10)
	var bodies []Body
	for i := 0; i < n; i += 100 {
		if err := s.Update(context.Background(), func(tx *Tx) error {
			for j := i; j < min(i+100, n); j++ {
				w, err := s.NewSpool()
				if err != nil {
					return err
				}
				w.Write(content)
				body, err := w.Finish()
				if err != nil {
					return err
				}
				body, _ = body.WithHead([]byte("Received: by mx.test\r\n"), 0)
				m := txMsg(tx, "a@example.org", "b@example.test")
				m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
				if err := tx.PutNewBody(m, body); err != nil {
					return err
				}
				bodies = append(bodies, body)
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("start-check", func(b *testing.B) {
		for range b.N {
			if msgs, _, err := s.damagedSpool(); err != nil || len(msgs) != 0 {
				b.Fatal(msgs, err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/start")
	})
	b.Run("every-byte", func(b *testing.B) {
		for range b.N {
			for _, body := range bodies {
				if err := body.verifySpool(); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/start")
	})
}
