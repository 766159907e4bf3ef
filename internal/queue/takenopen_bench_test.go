package queue

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// BenchmarkTakenIndexCheck measures the check of the takenby index that
// every Open makes (repairTakenIndex: one pass decoding every message
// record), on a queue of UMBRA_BENCH_QUEUED (100,000) messages of 1 KiB
// with two recipients each, one in a hundred a copy taken over, and
// reports it beside the whole Open (page walk, index keys, this check).
// UMBRA_BENCH_COPIES set: every record also names its copy (ShadowServer,
// ShadowID), as with shadow redundancy on, so the check of the index by
// copy id (shadowidindex.go), in the same pass, has an entry per record.
// Each iteration runs the check in a transaction rolled back, with the
// file in the page cache (the Open before it read it), as at a restart.
//
//	flock -o /tmp/umbra-bench.lock go test -run '^$' -bench TakenIndexCheck -benchtime 3x ./internal/queue/
//	UMBRA_BENCH_COPIES=1 flock -o /tmp/umbra-bench.lock go test -run '^$' -bench TakenIndexCheck -benchtime 3x ./internal/queue/
//	UMBRA_BENCH_QUEUED=1000000 flock -o /tmp/umbra-bench.lock go test -run '^$' -bench TakenIndexCheck -benchtime 3x -timeout 30m ./internal/queue/
func BenchmarkTakenIndexCheck(b *testing.B) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("UMBRA_BENCH_QUEUED")); err == nil && v > 0 {
		n = v
	}
	copies := os.Getenv("UMBRA_BENCH_COPIES") != ""
	path := filepath.Join(b.TempDir(), "queue.db")
	s, err := Open(path, Options{UnsafeNoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	content := make([]byte, 1024)
	for i := range content {
		content[i] = 'a' + byte(i%26)
	}
	now := time.Now()
	for done := 0; done < n; {
		err := s.Update(context.Background(), func(tx *Tx) error {
			for i := 0; i < 5000 && done+i < n; i++ {
				m := &Message{ID: tx.NewID(now), State: Ready, Arrived: now, NextAttempt: now.Add(time.Hour),
					From: "a@example.org", OrgID: "0123456789abcdef0123456789abcdef",
					Rcpts: []Recipient{{Addr: "x@example.net", Queue: "smarthost:relay.example"},
						{Addr: "y@example.net", Queue: "smarthost:relay.example"}}}
				if (done+i)%100 == 0 {
					m.Rcpts[1].Primary, m.Rcpts[1].ShadowID = "hub-b", "0123456789ABCDEF-01234567"
				}
				if copies {
					// With shadow redundancy on every original names
					// its copy: an entry in the index by copy id each.
					m.ShadowServer, m.ShadowID = "hub-c", fmt.Sprintf("%032x", done+i)
				}
				if err := tx.PutNew(m, content); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		done += 5000
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	s, err = Open(path, Options{UnsafeNoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	open := time.Since(start)
	defer s.Close()
	fi, _ := os.Stat(path)
	errRollback := errors.New("rolled back")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.db.Update(func(btx *bolt.Tx) error {
			if _, err := repairTakenIndex(btx, time.Now()); err != nil {
				return err
			}
			return errRollback
		}); !errors.Is(err, errRollback) {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(n), "queued")
	b.ReportMetric(open.Seconds(), "open-s")
	b.ReportMetric(float64(fi.Size())/(1<<20), "db-MiB")
}
