package queue

import (
	"context"
	"fmt"
	"testing"
	"time"

	"umbra/internal/clock"
)

// A step of the wall clock moves the dumpster's kept-at times and the
// duplicate records' delivered-at times with it (several batches of
// them), so that neither is evicted early after a step forward nor kept
// longer after a step back; a later record of the same delivery still
// replaces its index entry.
func TestClockStepMovesRetentionAges(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	q := NewManager(s, newScripted(nil), ManagerConfig{Clock: clock.NewFake(t0)})
	const n = 2*clockStepBatch + 17
	kept := DumpsterKey{Database: "DB01", KeptAt: t0, ID: 42}
	err := s.Update(context.Background(), func(tx *Tx) error {
		for i := 0; i < n; i++ {
			if err := tx.RecordDelivered(fmt.Sprintf("DB%02d", i%3), fmt.Sprintf("org-%d", i), "u@example.test", t0.Add(time.Duration(i)*time.Millisecond)); err != nil {
				return err
			}
		}
		return tx.DumpsterPut(kept, &Message{ID: 42, State: Ready, Rcpts: []Recipient{{Addr: "u@example.test", Status: Delivered}}}, []byte(body))
	})
	if err != nil {
		t.Fatal(err)
	}
	times := func() (min, max time.Time, count int, dump []DumpsterKey) {
		s.View(func(tx *Tx) error {
			c := tx.tx.Bucket(bucketDelivAt).Cursor()
			for k, _ := c.First(); k != nil; k, _ = c.Next() {
				at := getTime(k[5:13])
				if count == 0 || at.Before(min) {
					min = at
				}
				if at.After(max) {
					max = at
				}
				count++
			}
			tx.DumpsterScan("DB01", time.Time{}, func(e DumpsterEntry) bool { dump = append(dump, e.Key); return true })
			return nil
		})
		return
	}
	check := func(step time.Duration) {
		t.Helper()
		min, max, count, dump := times()
		if count != n || !min.Equal(t0.Add(step)) || !max.Equal(t0.Add(step+(n-1)*time.Millisecond)) {
			t.Fatalf("after a net step of %s: %d records from %s to %s", step, count, min, max)
		}
		if len(dump) != 1 || !dump[0].KeptAt.Equal(t0.Add(step)) {
			t.Fatalf("dumpster after a net step of %s: %+v", step, dump)
		}
		s.View(func(tx *Tx) error {
			if b, err := tx.DumpsterBody(dump[0]); err != nil || string(b) != body {
				t.Fatalf("dumpster body: %q %v", b, err)
			}
			if !tx.WasDelivered("DB00", "org-0", "u@example.test") {
				t.Fatal("a duplicate record was lost")
			}
			return nil
		})
	}
	q.followClockStep(time.Hour)
	check(time.Hour)
	// Pruning at t0+30 min of the new clock forgets nothing: the records
	// are an hour younger than the stepped clock would make them.
	s.Update(context.Background(), func(tx *Tx) error {
		if k, _ := tx.PruneDelivered(t0.Add(30*time.Minute), 10*n); k != 0 {
			t.Fatalf("pruned %d after a step forward", k)
		}
		// The delivery recorded again replaces its own index entry.
		return tx.RecordDelivered("DB00", "org-0", "u@example.test", t0.Add(time.Hour))
	})
	if _, _, count, _ := times(); count != n {
		t.Fatalf("a record made again left %d index entries, want %d", count, n)
	}
	q.followClockStep(-3 * time.Hour)
	check(-2 * time.Hour)
}
