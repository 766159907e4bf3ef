package queue

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"umbra/internal/clock"
)

// Q-4 on a full disk (rt45 F1's sibling): removing mail is how an
// operator frees room, and a file with no free page (after db compact
// or db restore) has none for even the removal's commit: message
// remove failed with "no space left on device" for as long as the disk
// stayed full, the space reserve whole. The removal's commit gives the
// reserve up, as the other commits that free room do. Here the disk is
// full while the reserve file is there (the commit fault reads it), as
// in spacereserve_test.go. Before: the removal failed with ENOSPC.
func TestQ4OperatorRemovalOnFullDiskUsesSpaceReserve(t *testing.T) {
	s := openTest(t)
	s.StartSpaceReserve(64<<10, nil)
	path := filepath.Join(filepath.Dir(s.db.Path()), SpaceReserveName)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := msg(s, "a@example.org", "x@example.test")
	m.State, m.NextAttempt = Ready, t0.Add(time.Hour) // not due: nothing claims it meanwhile
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	hop := startCountingHop(t)
	q, _ := startManager(t, s, relayTo(hop), ManagerConfig{Clock: clock.NewFake(t0), RetrySchedule: []time.Duration{time.Hour}})
	// The commit that removes it needs room; one that writes nothing
	// (the look for a damaged record of that id) does not.
	s.setCommitFault(func(tx *Tx) error {
		if _, err := tx.Get(m.ID); !errors.Is(err, ErrNotFound) {
			return nil
		}
		if _, err := os.Stat(path); err == nil {
			return fmt.Errorf("write %s: %w", s.db.Path(), syscall.ENOSPC)
		}
		return nil
	})
	if err := q.RemoveMessage(context.Background(), m.ID, false); err != nil {
		t.Fatalf("message remove on a full disk with the space reserve whole: %v", err)
	}
	if _, err := q.Message(m.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the removed message is still there: %v", err)
	}
	if s.SpaceReserveUsed() != 1 {
		t.Errorf("the space reserve was given up %d times, want once", s.SpaceReserveUsed())
	}
}
