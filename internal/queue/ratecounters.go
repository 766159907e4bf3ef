package queue

import "context"

// SaveRateCounters replaces the snapshot of the rate limit counters
// (meta/rate_counters): an opaque value package ratelimit encodes. It is
// a cache of counts, not of mail: losing it lets clients a fresh
// allowance, nothing more.
func (s *Store) SaveRateCounters(ctx context.Context, snapshot []byte) error {
	return s.Update(ctx, func(tx *Tx) error {
		return tx.tx.Bucket(bucketMeta).Put(keyRateCounters, snapshot)
	})
}

// RateCounters returns the saved snapshot (nil if none), copied out of
// the transaction.
func (s *Store) RateCounters() ([]byte, error) {
	var out []byte
	err := s.View(func(tx *Tx) error {
		if v := tx.tx.Bucket(bucketMeta).Get(keyRateCounters); v != nil {
			out = append([]byte(nil), v...)
		}
		return nil
	})
	return out, err
}
