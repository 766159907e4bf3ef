package queue

import (
	"context"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"umbra/internal/clock"
)

// SR-17 (receipt48 item 1): whether a message left this server before
// its copy on receipt gave up is a read of the transport database; a
// read that fails (here: its record damaged) is no answer. It is
// reported as an error — never as "not left", which made the receipt
// claim a copy of a message it could not see — and a record that reads
// still answers as before.
func TestSR17LeftBeforeCopyReadFailureIsNoAnswer(t *testing.T) {
	s := openTest(t)
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }),
		ManagerConfig{Clock: clock.NewFake(time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC))})
	pending, damaged := msg(s, "a@example.org", "b@example.net"), msg(s, "a@example.org", "c@example.net")
	for _, m := range []*Message{pending, damaged} {
		m.State = Ready
		if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
			t.Fatal(err)
		}
	}
	if left, err := q.LeftBeforeCopy(pending.ID); err != nil || left {
		t.Fatalf("LeftBeforeCopy(pending) = %v, %v; want false, nil", left, err)
	}
	if left, err := q.LeftBeforeCopy(msg(s, "a@example.org").ID); err != nil || !left {
		t.Fatalf("LeftBeforeCopy(no record) = %v, %v; want true, nil", left, err)
	}
	if err := s.db.Update(func(btx *bolt.Tx) error {
		return btx.Bucket(bucketMessages).Put(damaged.ID.Key(), []byte("\xff\x00not a record"))
	}); err != nil {
		t.Fatal(err)
	}
	left, err := q.LeftBeforeCopy(damaged.ID)
	if err == nil {
		t.Fatalf("LeftBeforeCopy(damaged record) = %v with no error; a failed read must not answer", left)
	}
	if left {
		t.Fatalf("LeftBeforeCopy(damaged record) = true, %v; want no answer", err)
	}
}
