package queue

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-12: a crash between a pickup message's end and its file's removal
// leaves NAME.<id>.queued behind; a downtime longer than
// message_expiration then used to prune the recorded end with the
// submission keys, and the start after it submitted the file again — a
// second delivery of a message that ended. The end is kept as long as its
// file may still exist: the pruner forgets it only when the file is gone.
func TestSR12PickupEndKeptWhileItsFileExists(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(t.TempDir(), "queue.db")
	gone := func(id ID, name string) bool {
		_, err := os.Lstat(filepath.Join(dir, strings.TrimSuffix(name, ".eml")+"."+id.String()+".queued"))
		return os.IsNotExist(err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The message queued and ended (its record deleted, the end noted in
	// that commit, Tx.Delete); the crash comes before the file's removal.
	m := msg(s, "app@example.org", "ops@remote.example")
	m.Connector, m.Helo, m.Internal = "pickup", "report.eml", true
	m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
	if err := s.Update(ctx, func(tx *Tx) error { return tx.PutNew(m, []byte("Subject: x\r\n\r\nhi\r\n")) }); err != nil {
		t.Fatal(err)
	}
	queued := filepath.Join(dir, "report."+m.ID.String()+".queued")
	if err := os.WriteFile(queued, []byte("Subject: x\n\nhi\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(tx *Tx) error { return tx.Delete(m.ID) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Down for two days (message_expiration one hour), then a start.
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	clk := clock.NewFake(time.Now().Add(48 * time.Hour))
	q := NewManager(s, nil, ManagerConfig{Clock: clk, MessageExpiration: time.Hour, PickupFileGone: gone})
	prunePickupLooked(t, q, &q.pickupEndPrune, clk.Now())
	if got := q.PickupFate(m.ID, "report.eml"); got != PickupEnded {
		t.Fatalf("after a downtime past message_expiration with %s still there: fate %d, want ended (%d) — the start would submit the file again", filepath.Base(queued), got, PickupEnded)
	}
	// The file gone, the end may go.
	if err := os.Remove(queued); err != nil {
		t.Fatal(err)
	}
	prunePickupLooked(t, q, &q.pickupEndPrune, clk.Now())
	if got := q.PickupFate(m.ID, "report.eml"); got != PickupUnknown {
		t.Errorf("its file gone: fate %d, want the end forgotten (unknown)", got)
	}
	// Without a way to look at the directory, an end is kept.
	s2 := openTest(t)
	q2 := NewManager(s2, nil, ManagerConfig{Clock: clk, MessageExpiration: time.Hour})
	m2 := msg(s2, "app@example.org", "ops@remote.example")
	m2.Connector, m2.Helo, m2.Internal = "pickup", "other.eml", true
	m2.State, m2.NextAttempt = Ready, time.Now().Add(time.Hour)
	if err := s2.Update(ctx, func(tx *Tx) error { return tx.PutNew(m2, []byte("Subject: x\r\n\r\nhi\r\n")) }); err != nil {
		t.Fatal(err)
	}
	if err := s2.Update(ctx, func(tx *Tx) error { return tx.Delete(m2.ID) }); err != nil {
		t.Fatal(err)
	}
	q2.pruneBacklog(clk.Now().Add(48 * time.Hour))
	if got := q2.PickupFate(m2.ID, "other.eml"); got != PickupEnded {
		t.Errorf("no PickupFileGone: fate %d, want the end kept", got)
	}
}

// prunePickupLooked runs the hourly pruning and then the scheduling
// loop's passes (stepPickupPrune) until the round's looks at the pickup
// directory (off the loop) for pp's records have returned and been
// committed.
func prunePickupLooked(t *testing.T, q *Manager, pp *pickupPrune, now time.Time) {
	t.Helper()
	q.pruneBacklog(now)
	for i := 0; pp.rounds > 0 || pp.busy.Load() || len(pp.found) > 0; i++ {
		if i > 5000 {
			t.Fatal("the looks at the pickup directory did not end")
		}
		if pp.busy.Load() {
			time.Sleep(5 * time.Millisecond)
			continue
		}
		q.stepPickupPrune(pp)
	}
}
