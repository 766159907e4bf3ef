package queue

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"umbra/internal/clock"
)

// A start on a full disk after a clean stop (nothing in delivery) logged
// "starting without recovering the messages in delivery at the last
// stop": the recovery's commit (its other work) found no room, and the
// words told of messages that were not there. Recover says how many
// messages were in delivery at the stop (RecoveryWaitsError), so that
// the start says what is true.
func TestRecoveryOnFullDiskSaysHowManyWereInDelivery(t *testing.T) {
	for _, inDelivery := range []int{0, 2} {
		s := openTest(t)
		for range inDelivery {
			m := msg(s, "a@example.org", "b@example.net")
			m.State = Active
			if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
				t.Fatal(err)
			}
		}
		ready := msg(s, "a@example.org", "c@example.net")
		ready.State = Ready
		if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(ready, []byte(body)) }); err != nil {
			t.Fatal(err)
		}
		q := NewManager(s, newPlanned(), ManagerConfig{MaxActive: 100, Clock: clock.NewFake(time.Unix(1_700_000_000, 0)), PoisonThreshold: 5})
		s.setCommitFault(func(*Tx) error { return syscall.ENOSPC })
		_, _, err := q.Recover(context.Background())
		var rw *RecoveryWaitsError
		if !errors.Is(err, ErrRecoveryWaits) || !errors.As(err, &rw) || rw.InDelivery != inDelivery {
			t.Errorf("Recover on a full disk with %d messages in delivery at the stop: %v (%+v); want a RecoveryWaitsError counting them", inDelivery, err, rw)
		}
		s.setCommitFault(nil)
	}
}
