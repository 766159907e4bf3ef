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
func (s *Store) PutRecipient(ctx context.Context, address string, a RecipientAnswer) error {
	reply := strings.ToValidUTF8(a.Reply, "")
	if len(reply) > maxCachedReply {
		reply = reply[:maxCachedReply]
	}
	v := make([]byte, 9, 9+len(reply))
	if a.Known {
		v[0] = 1
	}
	binary.BigEndian.PutUint64(v[1:9], uint64(a.Checked.UnixNano()))
	v = append(v, reply...)
	k := []byte(address)
	return s.Update(ctx, func(tx *Tx) error { return tx.tx.Bucket(bucketRcptCache).Put(k, v) })
}

// PruneRecipients deletes positive answers checked before pos and
// negative ones checked before neg, at most pruneBatch per call.
func (s *Store) PruneRecipients(ctx context.Context, pos, neg time.Time) (int, error) {
	var old [][]byte
	err := s.View(func(tx *Tx) error {
		c := tx.tx.Bucket(bucketRcptCache).Cursor()
		for k, v := c.First(); k != nil && len(old) < pruneBatch; k, v = c.Next() {
			if len(v) < 9 {
				old = append(old, bytes.Clone(k))
				continue
			}
			checked := time.Unix(0, int64(binary.BigEndian.Uint64(v[1:9])))
			if v[0] == 1 && checked.Before(pos) || v[0] != 1 && checked.Before(neg) {
				old = append(old, bytes.Clone(k))
			}
		}
		return nil
	})
	if err != nil || len(old) == 0 {
		return 0, err
	}
	err = s.Update(ctx, func(tx *Tx) error {
		b := tx.tx.Bucket(bucketRcptCache)
		for _, k := range old {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return len(old), nil
}

// pruneBatch bounds one prune's transaction.
const pruneBatch = 10000
