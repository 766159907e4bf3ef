package queue

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// keepBlocked is a Keeper whose first Keep says it entered (entered)
// and returns only once released: the moment a poison message's
// dumpster copy would panic, held for a kill -9 copied then.
type keepBlocked struct {
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

func (k *keepBlocked) Keep(_ *Tx, _ *Message, _ Body, _ string, _ []int, _ time.Time) (func(), error) {
	first := false
	k.once.Do(func() { first = true })
	if first {
		close(k.entered)
		<-k.release
	}
	return nil, nil
}

// SR-7 (rrstrand42): a reported group's commit is a wait of its job
// only while it waits for the store; the commit's own function, once
// the store runs it, is umbra's code on the message — it keeps the
// delivered copy in the dumpster (Keeper.Keep reads the message and
// its body), a redelivery copy's failure too (keepBack). A panic there
// crashes the daemon: were it inside the group's wait, the crash would
// count nothing, and a message whose dumpster copy crashes umbra would
// be delivered again at every start, never parked. A kill -9 while the
// report's Keep runs, the job otherwise only waiting for that commit,
// counts a crash.
func TestCrashInReportedCommitsDumpsterKeepCounts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := msg(s, "a@example.org", "b@example.org", "c@example.org")
	m.State, m.NextAttempt = Ready, time.Now()
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	keep := &keepBlocked{entered: make(chan struct{}), release: make(chan struct{})}
	var releaseOnce sync.Once
	releaseKeep := func() { releaseOnce.Do(func() { close(keep.release) }) }
	started := make(chan *attempt, 1)
	proceed := make(chan struct{})
	q := NewManager(s, DelivererFunc(func(ctx context.Context, m *Message, _ []byte, rcpts []int) []Result {
		if !startLeftBefore(ctx, started, proceed) {
			return nil
		}
		res := make([]Result, len(rcpts))
		for i, r := range rcpts {
			res[i] = Result{Rcpt: r, Outcome: DeliveredOK, Queue: "mailbox:DB1", NextHop: "maildir", Reply: "250 2.0.0 delivered", Database: "DB1"}
		}
		ReportGroup(ctx, res[:1]) // committed now: its Keep runs inside
		return res
	}), ManagerConfig{Dumpster: keep})
	if _, _, err := q.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { releaseKeep(); cancel(); s.Flush(); q.Wait(); s.Close() }()
	q.Start(ctx)
	waitStartLeft(t, started, proceed)
	select {
	case <-keep.entered:
	case <-time.After(10 * time.Second): // a bound on the test
		t.Fatal("timed out waiting for the report's commit to keep its dumpster copy")
	}
	if n := crashCounts(t, crashCopy(t, path))[m.ID]; n != 1 {
		t.Fatalf("a kill while the reported group's commit keeps its dumpster copy (umbra's code on the message): crash count %d, want 1", n)
	}
	releaseKeep()
}

// SR-7 (rrstrand42), the sibling at the attempt's end: its commit's
// function, once the store runs it, keeps the delivered copies in the
// dumpster — umbra's code on the message, as the report's. A kill -9
// while the end's Keep runs counts a crash (the end's section was left
// at the hand-off to the store, and the slot said free: a message whose
// dumpster copy crashes the daemon was never parked).
func TestCrashInAttemptEndsDumpsterKeepCounts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := msg(s, "a@example.org", "b@example.org")
	m.State, m.NextAttempt = Ready, time.Now()
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	keep := &keepBlocked{entered: make(chan struct{}), release: make(chan struct{})}
	var releaseOnce sync.Once
	releaseKeep := func() { releaseOnce.Do(func() { close(keep.release) }) }
	q := NewManager(s, DelivererFunc(func(ctx context.Context, m *Message, _ []byte, rcpts []int) []Result {
		res := make([]Result, len(rcpts))
		for i, r := range rcpts {
			res[i] = Result{Rcpt: r, Outcome: DeliveredOK, Queue: "mailbox:DB1", NextHop: "maildir", Reply: "250 2.0.0 delivered", Database: "DB1"}
		}
		return res
	}), ManagerConfig{Dumpster: keep})
	if _, _, err := q.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { releaseKeep(); cancel(); s.Flush(); q.Wait(); s.Close() }()
	q.Start(ctx)
	select {
	case <-keep.entered:
	case <-time.After(10 * time.Second): // a bound on the test
		t.Fatal("timed out waiting for the attempt's end to keep its dumpster copy")
	}
	if n := crashCounts(t, crashCopy(t, path))[m.ID]; n != 1 {
		t.Fatalf("a kill while the attempt's end keeps its dumpster copy (umbra's code on the message): crash count %d, want 1", n)
	}
	releaseKeep()
}
