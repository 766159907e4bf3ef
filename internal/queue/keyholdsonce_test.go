package queue

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-12: pickupKeyHolds walks every kept pickup submission key (and
// reads its submitkeys value). Read once per batch of expiredBatch
// pickup ends on the scheduling loop, the hourly round was quadratic in
// the pickup rate and paid on the loop that claims all due mail (1 m
// 52 s for one pass at 15,000 pickup messages an hour over 48 h). It is
// read by the look, off the loop, once per round, however many batches
// the round has.
func TestSR12PickupKeyHoldsReadOncePerRound(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	clk := clock.NewFake(time.Now())
	q := NewManager(s, nil, ManagerConfig{Clock: clk, MessageExpiration: 48 * time.Hour,
		PickupFileGone: func(ID, string) bool { return true }})
	const perHour, hours = 1500, 40 // 60,000 ends: six batches
	next := ID(1)
	for h := 0; h < hours; h++ {
		stamp := clk.Now()
		if err := s.Update(ctx, func(tx *Tx) error {
			ends, err := tx.tx.CreateBucketIfNotExists(bucketPickupEnds)
			if err != nil {
				return err
			}
			names, err := tx.tx.CreateBucketIfNotExists(bucketSubmitNames)
			if err != nil {
				return err
			}
			for i := 0; i < perHour; i++ {
				key := fmt.Sprintf("pickup:%032x", uint64(next))
				if err := tx.PutSubmitKey(key, next, stamp); err != nil {
					return err
				}
				if err := names.Put([]byte(key), []byte("report.eml")); err != nil {
					return err
				}
				if err := ends.Put(next.Key(), append(putTime(stamp), "report.eml"...)); err != nil {
					return err
				}
				next++
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Hour)
	}
	pp := &q.pickupEndPrune
	var reads atomic.Int32
	held := pp.of.held
	pp.of.held = func(tx *Tx) map[ID]bool { reads.Add(1); return held(tx) }
	var longest time.Duration
	start := time.Now()
	q.prunePickup(pp, clk.Now()) // every end old: a look for each batch
	if d := time.Since(start); d > longest {
		longest = d
	}
	for i := 0; pp.rounds > 0 || pp.busy.Load() || len(pp.found) > 0; i++ {
		if i > 5000 {
			t.Fatal("the looks did not end")
		}
		if pp.busy.Load() {
			time.Sleep(5 * time.Millisecond)
			continue
		}
		start := time.Now()
		q.stepPickupPrune(pp)
		if d := time.Since(start); d > longest {
			longest = d
		}
	}
	t.Logf("%d kept keys and ends: longest scheduling-loop pass in the hourly round of pickup ends %v", perHour*hours, longest)
	if n := reads.Load(); n != 1 {
		t.Fatalf("the kept keys were read %d times in one round of %d ends (batches of %d); want once", n, perHour*hours, expiredBatch)
	}
}
