package queue

import (
	"bytes"
	"context"
	"encoding/binary"
	"strings"
	"time"
)

// maxCachedReply bounds the next hop's reply kept with a callout answer.
const maxCachedReply = 200

// RecipientAnswer is one remembered callout answer (rcptcache bucket):
// whether the next hop accepted the address, when it said so, and its
// reply.
type RecipientAnswer struct {
	Known   bool
	Checked time.Time
	Reply   string
}

// GetRecipient returns the remembered callout answer for address
// (lower-cased by the caller), if any.
func (s *Store) GetRecipient(address string) (a RecipientAnswer, ok bool, err error) {
	err = s.View(func(tx *Tx) error {
		v := tx.tx.Bucket(bucketRcptCache).Get([]byte(address))
		if len(v) < 9 {
			return nil
		}
		a = RecipientAnswer{Known: v[0] == 1, Checked: time.Unix(0, int64(binary.BigEndian.Uint64(v[1:9]))), Reply: string(v[9:])}
		ok = true
		return nil
	})
	return a, ok, err
}

// PutRecipient remembers a callout answer; it is durable when it returns.
// When max > 0 the cache keeps at most max answers: writing a new one
// into a full cache evicts, in the same commit, negative answers first
// (they are cheap to ask again and what a flood of random addresses
// mostly leaves), then the oldest positive ones; the answer written is
// kept. So RCPTs alone, from anyone, cannot grow the transport database
// beyond max entries (about 250 bytes each).
func (s *Store) PutRecipient(ctx context.Context, address string, a RecipientAnswer, max int) error {
	reply := strings.ToValidUTF8(a.Reply, "")
	if len(reply) > maxCachedReply {
		reply = reply[:maxCachedReply]
	}
	v := make([]byte, 9, 9+len(reply))
	if a.Known {
		v[0] = 1
	}
	binary.BigEndian.PutUint64(v[1:9], uint64(nanos(a.Checked)))
	v = append(v, reply...)
	k := []byte(address)
	return s.Update(ctx, func(tx *Tx) error {
		n, err := rcptCount(tx) // may make rcptage anew: take it after
		if err != nil {
			return err
		}
		b, idx := tx.tx.Bucket(bucketRcptCache), tx.tx.Bucket(bucketRcptAge)
		if old := b.Get(k); old != nil {
			if err := idx.Delete(rcptAgeKey(k, old)); err != nil {
				return err
			}
		} else {
			n++
		}
		if err := b.Put(k, v); err != nil {
			return err
		}
		if err := idx.Put(rcptAgeKey(k, v), nil); err != nil {
			return err
		}
		rebuilt := false
		for max > 0 && n > uint64(max) {
			ik, _ := idx.Cursor().First()
			if ik != nil && bytes.Equal(ik[9:], k) {
				ik, _ = idx.Cursor().Seek(append(bytes.Clone(ik), 0))
			}
			if ik == nil {
				// Entries without an index entry (written by a release
				// before the cap): index them all once, then go on.
				if rebuilt {
					break
				}
				rebuilt = true
				if n, err = rebuildRcptAge(tx); err != nil {
					return err
				}
				idx = tx.tx.Bucket(bucketRcptAge)
				continue
			}
			ik = bytes.Clone(ik)
			addr := ik[9:]
			if cur := b.Get(addr); cur != nil && bytes.Equal(rcptAgeKey(addr, cur), ik) {
				if err := b.Delete(addr); err != nil {
					return err
				}
				n--
			}
			if err := idx.Delete(ik); err != nil {
				return err
			}
		}
		return putRcptCount(tx, n)
	})
}

// CountRecipients returns the number of remembered callout answers.
func (s *Store) CountRecipients() (n int, err error) {
	err = s.View(func(tx *Tx) error {
		if v := tx.tx.Bucket(bucketMeta).Get(keyRcptCount); len(v) == 8 {
			n = int(binary.BigEndian.Uint64(v))
			return nil
		}
		n = tx.tx.Bucket(bucketRcptCache).Stats().KeyN
		return nil
	})
	return n, err
}

// rcptAgeKey is address's key in rcptage for its rcptcache value v.
func rcptAgeKey(address, v []byte) []byte {
	k := make([]byte, 9, 9+len(address))
	if len(v) >= 9 {
		copy(k, v[:9])
		if k[0] != 1 {
			k[0] = 0
		}
	}
	return append(k, address...)
}

// rcptCount reads the number of rcptcache entries in tx, counting them
// (and indexing them in rcptage) when the database has no count yet.
func rcptCount(tx *Tx) (uint64, error) {
	if v := tx.tx.Bucket(bucketMeta).Get(keyRcptCount); len(v) == 8 {
		return binary.BigEndian.Uint64(v), nil
	}
	return rebuildRcptAge(tx)
}

// rebuildRcptAge indexes every rcptcache entry in rcptage anew and
// returns their number.
func rebuildRcptAge(tx *Tx) (uint64, error) {
	if err := tx.tx.DeleteBucket(bucketRcptAge); err != nil {
		return 0, err
	}
	idx, err := tx.tx.CreateBucket(bucketRcptAge)
	if err != nil {
		return 0, err
	}
	var n uint64
	c := tx.tx.Bucket(bucketRcptCache).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if err := idx.Put(rcptAgeKey(k, v), nil); err != nil {
			return 0, err
		}
		n++
	}
	return n, putRcptCount(tx, n)
}

func putRcptCount(tx *Tx, n uint64) error {
	return tx.tx.Bucket(bucketMeta).Put(keyRcptCount, binary.BigEndian.AppendUint64(nil, n))
}

// PruneRecipients deletes positive answers checked before pos and
// negative ones checked before neg, at most pruneBatch per call.
func (s *Store) PruneRecipients(ctx context.Context, pos, neg time.Time) (int, error) {
	var old [][]byte
	err := s.View(func(tx *Tx) error {
		c := tx.tx.Bucket(bucketRcptCache).Cursor()
		for k, v := c.First(); k != nil && len(old) < pruneBatch; k, v = c.Next() {
			if rcptTooOld(v, pos, neg) {
				old = append(old, bytes.Clone(k))
			}
		}
		return nil
	})
	if err != nil || len(old) == 0 {
		return 0, err
	}
	var pruned int
	err = s.Update(ctx, func(tx *Tx) error {
		pruned = 0
		n, err := rcptCount(tx) // may make rcptage anew: take it after
		if err != nil {
			return err
		}
		b, idx := tx.tx.Bucket(bucketRcptCache), tx.tx.Bucket(bucketRcptAge)
		for _, k := range old {
			v := b.Get(k)
			if v == nil || !rcptTooOld(v, pos, neg) {
				continue // evicted or answered anew since
			}
			if err := idx.Delete(rcptAgeKey(k, v)); err != nil {
				return err
			}
			if err := b.Delete(k); err != nil {
				return err
			}
			pruned++
			if n > 0 {
				n--
			}
		}
		return putRcptCount(tx, n)
	})
	if err != nil {
		return 0, err
	}
	return pruned, nil
}

// rcptTooOld: an rcptcache value v is a positive answer checked before
// pos, a negative one checked before neg, or unreadable.
func rcptTooOld(v []byte, pos, neg time.Time) bool {
	if len(v) < 9 {
		return true
	}
	checked := time.Unix(0, int64(binary.BigEndian.Uint64(v[1:9])))
	return v[0] == 1 && checked.Before(pos) || v[0] != 1 && checked.Before(neg)
}

// pruneBatch bounds one prune's transaction.
const pruneBatch = 10000
