package queue

import (
	"context"
	"time"
)

// expiredBatch bounds one pruning transaction; expiredRounds bounds the
// transactions of one hourly pruning (expiredBatch × expiredRounds records).
const (
	expiredBatch  = 10000
	expiredRounds = 1000
)

// pruneBacklog forgets expired discard notifications, duplicate records,
// records of finished recipients and submission keys, a batch per transaction, until a batch comes back
// short: a server that makes more of them in an hour than one batch
// holds would otherwise keep more every hour, without bound.
func (q *Manager) pruneBacklog(now time.Time) {
	cutoff := now.Add(-q.policy().MessageExpiration)
	dupCutoff := now.Add(-q.duplicateWindow())
	finCutoff := now.Add(-q.policy().MessageExpiration - shadowExpiryGrace) // finished.go
	// Pickup ends are kept while their files may exist (pickupfate.go).
	q.prunePickup(&q.pickupEndPrune, cutoff)
	q.prunePickup(&q.pickupKeyPrune, cutoff) // and the pickup submission keys while their files may (pickupkeys.go)
	for i := 0; i < expiredRounds; i++ {
		var d, r, k, f, td int
		err := q.store.Update(context.Background(), func(tx *Tx) error {
			var err error
			if d, err = tx.PruneDiscards(cutoff, expiredBatch); err != nil {
				return err
			}
			if r, err = tx.PruneDelivered(dupCutoff, expiredBatch); err != nil {
				return err
			}
			if f, err = tx.pruneFinished(finCutoff, expiredBatch); err != nil {
				return err
			}
			if td, err = tx.pruneTakenDone(finCutoff, expiredBatch); err != nil { // takendone.go
				return err
			}
			k, err = tx.PruneSubmitKeys(cutoff, expiredBatch)
			return err
		})
		if err != nil {
			q.log.Error("pruning expired records failed; the next hour tries again", "err", err)
			return
		}
		if d < expiredBatch && r < expiredBatch && k < expiredBatch && f < expiredBatch && td < expiredBatch {
			return
		}
	}
}

// DuplicateRecords counts the duplicate records (final deliveries
// remembered to suppress duplicates) for the retention metrics.
func (s *Store) DuplicateRecords() int {
	n := 0
	_ = s.View(func(tx *Tx) error { n = tx.tx.Bucket(bucketDelivered).Stats().KeyN; return nil })
	return n
}
