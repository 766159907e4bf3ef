package queue

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"umbra/internal/clock"
)

// BenchmarkTakenDoneApply measures one batch of taken-done notes (the
// XQUERYTAKENDONE maximum, 500) applied by the returning primary
// (ShadowFinishedElsewhere: one write transaction, the single writer),
// on a queue of UMBRA_BENCH_QUEUED (100,000) messages of 1 KiB whose
// copies hub-b keeps, one in ten a relayed message's copy ("<id>-…").
// The notes name 250 copies by org id and 250 relayed copies, each for a
// recipient already done: nothing changes, so every iteration does the
// same finding. Without fsync: the CPU of the writer, not the disk's.
// records-read/op is the message records the writer's transaction
// decoded: the figure the machine's load does not change.
//
//	flock -o /tmp/umbra-bench.lock go test -run '^$' -bench TakenDoneApply -benchtime 5x ./internal/queue/
func BenchmarkTakenDoneApply(b *testing.B) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("UMBRA_BENCH_QUEUED")); err == nil && v > 0 {
		n = v
	}
	s, err := Open(filepath.Join(b.TempDir(), "queue.db"), Options{UnsafeNoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	content := make([]byte, 1024)
	for i := range content {
		content[i] = 'a' + byte(i%26)
	}
	now := time.Now()
	var orgs, relays []string
	for done := 0; done < n; {
		err := s.Update(context.Background(), func(tx *Tx) error {
			for i := 0; i < 5000 && done+i < n; i++ {
				k := done + i
				m := &Message{ID: tx.NewID(now), State: Ready, Arrived: now, NextAttempt: now.Add(time.Hour),
					From: "a@example.org", OrgID: fmt.Sprintf("%032x", k), ShadowServer: "hub-b",
					Rcpts: []Recipient{{Addr: "x@example.net", Queue: "smarthost:relay.example"},
						{Addr: "y@example.net", Queue: "smarthost:relay.example", Status: Relayed}}}
				m.ShadowID = m.OrgID
				if k%10 == 0 {
					m.ShadowID = fmt.Sprintf("%016X-%08X", k, k)
				}
				if err := tx.PutNew(m, content); err != nil {
					return err
				}
				if k%(n/250) == 1 && len(orgs) < 250 {
					orgs = append(orgs, m.OrgID)
				}
				if k%(n/2500) == 0 && len(relays) < 250 && k%10 == 0 {
					relays = append(relays, m.ShadowID)
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		done += 5000
	}
	var notes []TakenDone
	for _, id := range append(orgs, relays...) {
		notes = append(notes, TakenDone{ID: id, Addr: "y@example.net", Kind: TakenDelivered})
	}
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }),
		ManagerConfig{Clock: clock.NewFake(now)})
	var read int64
	s.setCommitFault(func(tx *Tx) error { read += int64(tx.decoded); return nil })
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		fe, busy, err := q.ShadowFinishedElsewhere("hub-b", notes)
		if err != nil || len(fe) != 0 || busy != 0 {
			b.Fatalf("applied %d, %d busy, %v: want nothing changed", len(fe), busy, err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(n), "queued")
	b.ReportMetric(float64(len(notes)), "notes")
	b.ReportMetric(float64(read)/float64(b.N), "records-read/op")
}
