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
	started := make(chan *attempt, 1)
	proceed := make(chan struct{})
	q := NewManager(s, DelivererFunc(func(ctx context.Context, m *Message, _ []byte, rcpts []int) []Result {
		if !startLeftBefore(ctx, started, proceed) {
			return nil
		}
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
	waitStartLeft(t, started, proceed)
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
// on a strand of the job (Strand), as Deliver's do. Once the second
// group has ended, the job and the first group only wait: a kill then
// counts none — the crash counted before was the second group's code.
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
	started := make(chan *attempt, 1)
	proceed := make(chan struct{})
	running := make(chan struct{})     // the second group runs umbra's code
	release := make(chan struct{})     // ... until this is closed
	secondEnded := make(chan struct{}) // its strand ended
	jobWaits := make(chan struct{})    // the job waits for its groups
	q := NewManager(s, DelivererFunc(func(ctx context.Context, m *Message, _ []byte, rcpts []int) []Result {
		if !startLeftBefore(ctx, started, proceed) {
			return nil
		}
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
		_, end2 := Strand(ctx)
		go func() { // the second: umbra's code on the message, until released
			defer wg.Done()
			defer close(secondEnded)
			defer end2()
			close(running)
			select {
			case <-release:
			case <-ctx.Done():
			}
		}()
		waited := AwaitingPeer(ctx) // the job waits for its groups
		close(jobWaits)
		wg.Wait()
		waited()
		return res
	}), ManagerConfig{})
	if _, _, err := q.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var releaseOnce sync.Once
	releaseSecond := func() { releaseOnce.Do(func() { close(release) }) }
	defer func() { releaseSecond(); cancel(); s.Flush(); q.Wait(); s.Close() }()
	q.Start(ctx)
	waitStartLeft(t, started, proceed)
	for _, c := range []struct {
		what string
		ch   chan struct{}
	}{{"the second group to run", running}, {"the job to wait for its groups", jobWaits}} {
		select {
		case <-c.ch:
		case <-time.After(10 * time.Second): // a bound on the test
			t.Fatalf("timed out waiting for %s", c.what)
		}
	}
	waitFor(t, "the first group's results set aside", func() bool { return s.asideN.Load() == 1 })
	if n := crashCounts(t, crashCopy(t, path))[m.ID]; n != 1 {
		t.Fatalf("a kill while one group's commit waits and another runs umbra's code: crash count %d, want 1", n)
	}
	releaseSecond()
	select {
	case <-secondEnded:
	case <-time.After(10 * time.Second): // a bound on the test
		t.Fatal("timed out waiting for the second group to end")
	}
	if n := s.asideN.Load(); n != 1 {
		t.Fatalf("the first group's results committed (%d set aside): the state this test needs is gone", n)
	}
	if n := crashCounts(t, crashCopy(t, path))[m.ID]; n != 0 {
		t.Fatalf("a kill while one group's commit waits, the other ended and the job waits for its groups: crash count %d, want 0", n)
	}
}

// SR-7: a group whose results are reported while another group's
// commit is under way — set aside for result_commit_delay — waits for
// that commit before its own (the attempt's commit lock, a.cmu): a wait,
// not umbra's code on the message. With the job waiting for its groups
// and the first group for its commit, a kill -9 then counts no crash
// (rrdelivrt41 narrowed the report's mark to the hand-off to the store,
// and the wait for the lock before it counted as running).
func TestCrashWhileGroupWaitsForAnotherGroupsCommitDoesNotCount(t *testing.T) {
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
	started := make(chan *attempt, 1)
	proceed := make(chan struct{})
	firstAside := make(chan struct{}) // the test saw the first group's results set aside
	reporting := make(chan struct{})  // the second group reports now
	q := NewManager(s, DelivererFunc(func(ctx context.Context, m *Message, _ []byte, rcpts []int) []Result {
		if !startLeftBefore(ctx, started, proceed) {
			return nil
		}
		res := make([]Result, len(rcpts))
		for i, r := range rcpts {
			res[i] = Result{Rcpt: r, Outcome: RelayedOK, Queue: "mx:slow.example", Reply: "250 ok"}
		}
		var wg sync.WaitGroup
		wg.Add(2)
		g1, end1 := Strand(ctx)
		go func() { // the first group: its commit set aside, the lock held
			defer wg.Done()
			defer end1()
			ReportGroup(g1, res[:1])
		}()
		g2, end2 := Strand(ctx)
		go func() { // the second: reports once the first's commit is set aside
			defer wg.Done()
			defer end2()
			select {
			case <-firstAside:
			case <-ctx.Done():
				return
			}
			close(reporting)
			ReportGroup(g2, res[1:])
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
	defer func() { cancel(); s.Flush(); q.Wait(); s.Close() }()
	q.Start(ctx)
	waitStartLeft(t, started, proceed)
	waitFor(t, "the first group's results set aside", func() bool { return s.asideN.Load() == 1 })
	close(firstAside)
	select {
	case <-reporting:
	case <-time.After(10 * time.Second): // a bound on the test
		t.Fatal("timed out waiting for the second group's report")
	}
	// From its report to the lock the second group runs umbra's code;
	// then it only waits, as long as the first group's commit is set
	// aside (an hour): a kill must then count none.
	waitFor(t, "no crash counted while the second group waits for the first's commit", func() bool {
		return s.asideN.Load() == 1 && crashCounts(t, crashCopy(t, path))[m.ID] == 0
	})
}

// startLeftBefore, called first by a test's deliverer, hands the test
// its job's attempt (to started) and returns once the test lets it go
// on (proceed closed: waitStartLeft), false when the job was stopped
// meanwhile.
func startLeftBefore(ctx context.Context, started chan<- *attempt, proceed <-chan struct{}) bool {
	j, _ := ctx.Value(peerWaitKey{}).(*peerWaitJob)
	if j == nil {
		return false
	}
	started <- j.a
	select {
	case <-proceed:
		return true
	case <-ctx.Done():
		return false
	}
}

// waitStartLeft waits for the attempt's start to leave its section of
// umbra's code on the message, then lets the job's deliverer go on
// (startLeftBefore). The start (the recipients routed and split into
// jobs) leaves it only after it has started the job, on the job's own
// goroutine (scheduler.go: q.pump, then q.leaveOwn): a job that goes on
// at once may report and have its results set aside while the start
// still runs, and a kill -9 copied then counts the start — rightly —
// not the job's wait the test asks about (one run in about 60 under
// -race counted 1 for that). Left, the job's own section is the
// attempt's only one (a.own 1, no wait).
func waitStartLeft(t *testing.T, started <-chan *attempt, proceed chan<- struct{}) {
	t.Helper()
	var a *attempt
	select {
	case a = <-started:
	case <-time.After(10 * time.Second): // a bound on the test
		t.Fatal("no job started")
	}
	waitFor(t, "the attempt's start to leave its section", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.own == 1 && a.peer == 0
	})
	close(proceed)
}
