package queue

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// rt41 F1's sibling (SR-7): a job whose finished part's results (a
// group of its recipients, or the transaction a mailbox's turn allowed
// while others of its recipients wait for theirs: ReportGroup) wait
// for their deferred commit runs none of umbra's code on the message,
// as an attempt's end waiting for its commit does not
// (TestCrashWhileResultsDeferredDoesNotCount): a kill -9 then counts
// no crash against it.
func TestCrashWhileReportedResultsDeferredDoesNotCount(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{DeferLimit: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	m := msg(s, "a@example.org", "b@slow.example", "c@slow.example")
	m.State, m.NextAttempt = Ready, time.Now()
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	q := NewManager(s, DelivererFunc(func(ctx context.Context, m *Message, _ []byte, rcpts []int) []Result {
		res := make([]Result, len(rcpts))
		for i, r := range rcpts {
			res[i] = Result{Rcpt: r, Outcome: RelayedOK, Queue: "mx:slow.example", Reply: "250 ok"}
		}
		ReportGroup(ctx, res[:1]) // its commit is set aside: the call waits for it
		return res
	}), ManagerConfig{})
	if _, _, err := q.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); s.Flush(); q.Wait(); s.Close() }()
	q.Start(ctx)
	waitFor(t, "the reported results set aside", func() bool { return s.asideN.Load() == 1 })
	if n := crashCounts(t, crashCopy(t, path))[m.ID]; n != 0 {
		t.Fatalf("a kill while the job's reported results wait for their commit: crash count %d, want 0", n)
	}
}
