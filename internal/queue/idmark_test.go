package queue

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// TestIDsUniqueAcrossRestartWithClockBack: a message id handed out and
// committed before a restart is never handed out again after it, even
// when the message is gone (delivered, removed) and the clock went back
// (an NTP step, a VM restore): ids name messages in discard
// notifications, shadow ids, tracking lines and the dumpster, so a
// repeat would let one message's notification or line stand for another.
func TestIDsUniqueAcrossRestartWithClockBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s, err := Open(path, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	put := func(s *Store, at time.Time) ID {
		t.Helper()
		m := &Message{ID: s.NewID(at), State: Ready, Arrived: at, NextAttempt: at, From: "a@example.org",
			Rcpts: []Recipient{{Addr: "b@example.net"}}}
		if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, []byte("x")) }); err != nil {
			t.Fatal(err)
		}
		return m.ID
	}
	kept := put(s, now.Add(-time.Hour))
	gone := put(s, now)
	// The newest message leaves (delivered): no record names its id now.
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.Delete(gone) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The clock was stepped back by ten minutes across the restart.
	for i := 0; i < 3; i++ {
		id := s.NewID(now.Add(-10 * time.Minute))
		if id <= gone {
			t.Fatalf("id %s handed out after the restart is not above %s, committed before it (kept: %s): ids repeat when the clock steps back",
				id, gone, kept)
		}
	}
}
