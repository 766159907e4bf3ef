package queue

import (
	"context"
	"path/filepath"
	"sync"
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

// SR-7: a job of several groups (Deliver's, for the recipients only the
// directory routes: one goroutine each) whose one group's results wait
// for their deferred commit while another group runs umbra's code on
// the message: a kill -9 then counts a crash against it — the first
// group's wait is not the second's (rrdelivrt41: a job's waits were
// counted for the job as a whole, and one group's wait hid another's
// code, a poison message crashing there never parked). Each group runs
// on a strand of the job (Strand), as Deliver's do.
func TestCrashWhileOtherGroupRunsCounts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{DeferLimit: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	m := msg(s, "a@example.org", "b@slow.example", "c@other.example")
	m.State, m.NextAttempt = Ready, time.Now()
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	running := make(chan struct{})
	release := make(chan struct{})
	q := NewManager(s, DelivererFunc(func(ctx context.Context, m *Message, _ []byte, rcpts []int) []Result {
		res := make([]Result, len(rcpts))
		for i, r := range rcpts {
			res[i] = Result{Rcpt: r, Outcome: RelayedOK, Queue: "mx:slow.example", Reply: "250 ok"}
		}
		var wg sync.WaitGroup
		wg.Add(2)
		g1, end1 := Strand(ctx)
		go func() { // the first group: ended, its results' commit set aside
			defer wg.Done()
			defer end1()
			ReportGroup(g1, res[:1])
		}()
		g2, end2 := Strand(ctx)
		go func() { // the second: umbra's code on the message, until released
			defer wg.Done()
			defer end2()
			_ = g2
			close(running)
			<-release
		}()
		waited := AwaitingPeer(ctx) // the job waits for its groups
		wg.Wait()
		waited()
		return res
	}), ManagerConfig{})
	if _, _, err := q.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { close(release); cancel(); s.Flush(); q.Wait(); s.Close() }()
	q.Start(ctx)
	<-running
	waitFor(t, "the first group's results set aside", func() bool { return s.asideN.Load() == 1 })
	if n := crashCounts(t, crashCopy(t, path))[m.ID]; n != 1 {
		t.Fatalf("a kill while one group's commit waits and another runs umbra's code: crash count %d, want 1", n)
	}
}
