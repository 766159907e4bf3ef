package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-12, Q-1: pruneBacklog's promise (retention.go) is that a server
// making more records in an hour than one batch holds does not keep more
// every hour, without bound. Pickup ends are such records: one per
// message submitted from the pickup directory. A server whose pickup
// directory takes 15000 messages an hour (about 4 a second, an
// application's bulk run) must still forget the ends whose files are
// gone: after some hours, no end older than message_expiration plus the
// hour the off-loop look takes to be committed may remain.
func TestSR12PickupEndsPrunedAtAPickupRateAboveOneBatch(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	clk := clock.NewFake(time.Now())
	q := NewManager(s, nil, ManagerConfig{Clock: clk, MessageExpiration: time.Hour,
		PickupFileGone: func(ID, string) bool { return true }})
	const perHour = 15000
	next := ID(1)
	for h := 0; h < 8; h++ {
		// An hour of pickup messages ended (their ends noted now).
		stamp := clk.Now()
		if err := s.Update(ctx, func(tx *Tx) error {
			b, err := tx.tx.CreateBucketIfNotExists(bucketPickupEnds)
			if err != nil {
				return err
			}
			for i := 0; i < perHour; i++ {
				if err := b.Put(next.Key(), append(putTime(stamp), "report.eml"...)); err != nil {
					return err
				}
				next++
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Hour)
		prunePickupLooked(t, q, &q.pickupEndPrune, clk.Now()) // the hour's round, the loop's passes between
	}
	// Ends older than message_expiration plus two hours (the look's hour
	// and one more): every one of them was old at two passes at least.
	stale, total := 0, 0
	limit := nanos(clk.Now().Add(-3 * time.Hour))
	_ = s.View(func(tx *Tx) error {
		b := tx.tx.Bucket(bucketPickupEnds)
		return b.ForEach(func(k, v []byte) error {
			total++
			if int64(beUint64(v)) < limit {
				stale++
			}
			return nil
		})
	})
	if stale > 0 {
		t.Fatalf("after 8 hours at %d pickup messages an hour, %d of %d pickup ends whose files are gone are older than message_expiration plus two hours: the hourly pruning looks at %d ends an hour and the bucket grows without bound",
			perHour, stale, total, expiredBatch)
	}
}
