package queue

import (
	"context"
	"fmt"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-12: pickupKeyHolds walks every kept pickup submission key (and
// reads its submitkeys value) once per batch of expiredBatch pickup
// ends, and stepPickupPrune runs batch after batch in one pass of the
// scheduling loop while none is old: the hourly round is quadratic in
// the pickup rate and is paid on the loop that claims all due mail. At
// the rate TestSR12PickupEndsPrunedAtAPickupRateAboveOneBatch calls
// ordinary (15000 pickup messages an hour), over the default
// message_expiration (48 h) of kept keys and ends, one loop pass must not
// take seconds.
func TestSR12PickupKeyHoldsCostPerLoopPass(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	clk := clock.NewFake(time.Now())
	q := NewManager(s, nil, ManagerConfig{Clock: clk, MessageExpiration: 48 * time.Hour,
		PickupFileGone: func(ID, string) bool { return true }})
	const perHour, hours = 15000, 48
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
	var longest time.Duration
	start := time.Now()
	q.prunePickup(pp, clk.Now().Add(-48*time.Hour))
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
	if longest > time.Second {
		t.Fatalf("one pass of the scheduling loop spent %v in the pickup ends' pruning (%d kept keys, %d ends): pickupKeyHolds walks every key once per batch of %d ends",
			longest, perHour*hours, perHour*hours, expiredBatch)
	}
}
