package queue

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// BenchmarkHolderUnreachablePass measures one pass of the holders' probe
// over a holder that stays silent (ShadowHolderUnreachable), on a queue
// of UMBRA_BENCH_QUEUED (10,000) messages of 1 KiB whose copies hub-b
// keeps, every one marked already by the first pass: the steady state
// of an outage, a pass each probe interval that finds nothing new. With
// fsync, as the daemon runs: a write transaction that changes nothing
// still commits. write-commits/op and records-read-by-writer/op are
// the figures the machine's load does not change. (watch40 item 5)
//
//	flock -o /tmp/umbra-bench.lock go test -run '^$' -bench HolderUnreachablePass -benchtime 20x ./internal/queue/
func BenchmarkHolderUnreachablePass(b *testing.B) {
	n := 10_000
	if v, err := strconv.Atoi(os.Getenv("UMBRA_BENCH_QUEUED")); err == nil && v > 0 {
		n = v
	}
	s, err := Open(filepath.Join(b.TempDir(), "queue.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	content := make([]byte, 1024)
	for i := range content {
		content[i] = 'a' + byte(i%26)
	}
	now := time.Now()
	for done := 0; done < n; done += 5000 {
		err := s.Update(context.Background(), func(tx *Tx) error {
			for i := 0; i < 5000 && done+i < n; i++ {
				m := &Message{ID: tx.NewID(now), State: Ready, Arrived: now, NextAttempt: now.Add(time.Hour),
					From: "a@example.org", OrgID: fmt.Sprintf("%032x", done+i), ShadowServer: "hub-b",
					Rcpts: []Recipient{{Addr: "x@example.net", Queue: "smarthost:relay.example"}}}
				m.ShadowID = m.OrgID
				if err := tx.PutNew(m, content); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Hostname: "mx.test"})
	if got, err := q.ShadowHolderUnreachable("hub-b", now); err != nil || got != n {
		b.Fatalf("the first pass marked %d, %v; want %d", got, err, n)
	}
	var writes, read int64
	s.setCommitFault(func(tx *Tx) error { writes++; read += int64(tx.decoded); return nil })
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if got, err := q.ShadowHolderUnreachable("hub-b", now); err != nil || got != 0 {
			b.Fatalf("a later pass marked %d, %v; want 0", got, err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(n), "queued")
	b.ReportMetric(float64(writes)/float64(b.N), "write-commits/op")
	b.ReportMetric(float64(read)/float64(b.N), "records-read-by-writer/op")
}
