package queue

import (
	"context"
	"fmt"
	"testing"
	"time"

	"umbra/internal/clock"
)

// The hourly pruning forgets every expired duplicate record, discard
// notification and submission key, not only the first 10,000: a server
// that delivers more than that an hour must not grow its records without
// bound.
func TestPruneCatchesUpBeyondOneBatch(t *testing.T) {
	s := openTest(t)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(start)
	q := NewManager(s, newScripted(nil), ManagerConfig{Hostname: "mx.test", Clock: clk, MessageExpiration: time.Hour})
	const n = 25000
	for i := 0; i < n; i += 5000 {
		if err := s.Update(context.Background(), func(tx *Tx) error {
			for j := i; j < i+5000; j++ {
				if err := tx.RecordDelivered("DB1", fmt.Sprintf("org%d", j), "r@x", start); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	// One fresh record stays.
	s.Update(context.Background(), func(tx *Tx) error { return tx.RecordDelivered("DB1", "fresh", "r@x", start.Add(3*time.Hour)) })
	q.pruneDiscards(start.Add(3 * time.Hour))
	s.View(func(tx *Tx) error {
		if k := tx.tx.Bucket(bucketDelivered).Stats().KeyN; k != 1 {
			t.Errorf("%d duplicate records left, want 1", k)
		}
		if k := tx.tx.Bucket(bucketDelivAt).Stats().KeyN; k != 1 {
			t.Errorf("%d time index entries left, want 1", k)
		}
		if !tx.WasDelivered("DB1", "fresh", "r@x") {
			t.Error("the fresh record was pruned")
		}
		return nil
	})
}
