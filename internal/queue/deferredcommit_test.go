package queue

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// commitLog records the size of every commit the store makes.
type commitLog struct {
	mu      sync.Mutex
	batches []int
}

func (c *commitLog) Commit(_ time.Duration, batch int, _ error) {
	c.mu.Lock()
	c.batches = append(c.batches, batch)
	c.mu.Unlock()
}

func (c *commitLog) get() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.batches...)
}

func openDeferring(t *testing.T, path string, limit time.Duration, obs Observer) *Store {
	t.Helper()
	s, err := Open(path, Options{DeferLimit: limit, Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// putOp is a writer that stores m (not yet queued).
func putOp(m *Message, deferred bool, order *[]ID, mu *sync.Mutex) *op {
	return &op{deferred: deferred, done: make(chan error, 1), fn: func(tx *Tx) error {
		mu.Lock()
		*order = append(*order, m.ID)
		mu.Unlock()
		return tx.PutNew(m, []byte(body))
	}}
}

// sendOp queues o as Update does, and waits for its outcome (leading
// a commit when its turn comes) on another goroutine.
func sendOp(t *testing.T, s *Store, o *op) <-chan error {
	t.Helper()
	lead, err := s.enqueue(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.await(o, lead) }()
	return done
}

// storedIDs reopens the database and says which of ids it holds.
func storedIDs(t *testing.T, path string, ids ...ID) map[ID]bool {
	t.Helper()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := map[ID]bool{}
	s.View(func(tx *Tx) error {
		for _, id := range ids {
			if _, err := tx.Get(id); err == nil {
				got[id] = true
			}
		}
		return nil
	})
	return got
}

// A deferred writer rides along with the next writer that is not
// deferred: one commit for both, the deferred one's change first.
func TestUpdateDeferredRidesAlongWithNextCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	log := &commitLog{}
	s := openDeferring(t, path, time.Hour, log)
	base := len(log.get())
	var mu sync.Mutex
	var order []ID
	m1, m2 := msg(s, "a@example.org", "x@example.net"), msg(s, "a@example.org", "y@example.net")
	m1.State, m2.State = Ready, Ready
	o1, o2 := putOp(m1, true, &order, &mu), putOp(m2, false, &order, &mu)
	d1 := sendOp(t, s, o1) // queued first: set aside
	d2 := sendOp(t, s, o2)
	for _, done := range []<-chan error{d1, d2} {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("a writer was not committed: the deferred one did not ride along")
		}
	}
	if got := log.get()[base:]; len(got) != 1 || got[0] != 2 {
		t.Fatalf("commits %v, want one of 2 writers", got)
	}
	if len(order) != 2 || order[0] != m1.ID {
		t.Fatalf("order %v: the deferred writer (%v) must come first", order, m1.ID)
	}
	s.Close()
	if got := storedIDs(t, path, m1.ID, m2.ID); !got[m1.ID] || !got[m2.ID] {
		t.Fatalf("after reopening: %v", got)
	}
}

// Close commits what is set aside; a lone deferred writer commits after
// the limit; with no limit UpdateDeferred is Update.
func TestUpdateDeferredCommitsOnCloseAndAlone(t *testing.T) {
	t.Run("close", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "queue.db")
		s := openDeferring(t, path, time.Hour, nil)
		var mu sync.Mutex
		var order []ID
		m := msg(s, "a@example.org", "x@example.net")
		m.State = Ready
		o := putOp(m, true, &order, &mu)
		done := sendOp(t, s, o)
		waitFor(t, "the writer set aside", func() bool { return s.asideN.Load() == 1 })
		s.Close()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if got := storedIDs(t, path, m.ID); !got[m.ID] {
			t.Fatal("the deferred change was not committed by Close")
		}
	})
	for _, limit := range []time.Duration{time.Millisecond, 0} {
		t.Run("limit="+limit.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "queue.db")
			s := openDeferring(t, path, limit, nil)
			m := msg(s, "a@example.org", "x@example.net")
			m.State = Ready
			if err := s.UpdateDeferred(func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
				t.Fatal(err)
			}
			s.Close()
			if got := storedIDs(t, path, m.ID); !got[m.ID] {
				t.Fatal("UpdateDeferred returned before its change was durable")
			}
		})
	}
}

// Flush commits what is set aside at once.
func TestFlushCommitsDeferredWriters(t *testing.T) {
	s := openDeferring(t, filepath.Join(t.TempDir(), "queue.db"), time.Hour, nil)
	var mu sync.Mutex
	var order []ID
	m := msg(s, "a@example.org", "x@example.net")
	m.State = Ready
	o := putOp(m, true, &order, &mu)
	s.deferredN.Add(1) // as UpdateDeferred does before sending
	s.awaitedN.Add(1)
	done := sendOp(t, s, o)
	s.Flush()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Flush did not commit the deferred writer")
	}
}

// An attempt's results nobody waits for wait for the next commit; a
// sender waiting for the message (delayed acknowledgement) gets them
// committed at once, whatever the limit.
func TestResultsDeferredUnlessWaitedFor(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s := openDeferring(t, path, time.Hour, nil)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	d := newScripted(func(string, int) (Outcome, string) { return RelayedOK, "250 2.0.0 ok" })
	q := NewManager(s, d, ManagerConfig{Clock: clk, MaxActive: 10})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	exists := func(id ID) bool {
		_, err := q.Message(id)
		return !errors.Is(err, ErrNotFound)
	}

	// Nobody waits: delivered, but the removal waits for another commit.
	// The scheduler's own first writes (pruning at start) may come in
	// between and take it along: then the next message is tried.
	var m1 *Message
	for try := 0; try < 5 && m1 == nil; try++ {
		m := msg(s, "a@example.org", "x@example.net")
		if err := q.Submit(ctx, m, []byte(body)); err != nil {
			t.Fatal(err)
		}
		d.wait(t)
		for end := time.Now().Add(5 * time.Second); time.Now().Before(end) && exists(m.ID); time.Sleep(time.Millisecond) {
			if s.asideN.Load() == 1 {
				m1 = m
				break
			}
		}
	}
	if m1 == nil {
		t.Fatal("the results of no attempt were set aside for a later commit")
	}
	if !exists(m1.ID) {
		t.Fatal("the results were committed without a commit to ride along with")
	}
	// A sender waits for the next message: its results commit at once,
	// and m1's with them (they came first).
	m2 := msg(s, "a@example.org", "y@example.net")
	if err := q.Submit(ctx, m2, []byte(body)); err != nil {
		t.Fatal(err)
	}
	if exists(m1.ID) {
		t.Fatal("the deferred results did not ride along with the next commit")
	}
	gone, stop := q.WaitGone(m2.ID) // as a sender waiting for delayed acknowledgement
	defer stop()
	select {
	case <-gone:
	case <-time.After(30 * time.Second):
		t.Fatal("a waited-for result was deferred")
	}
}

// A job's window slot goes to the next waiting job as soon as it ends,
// not once its results are committed: with results waiting for another
// commit, a destination (window 1, growing to its limit of 2) still
// delivers its whole queue.
func TestWindowSlotFreedBeforeDeferredCommit(t *testing.T) {
	s := openDeferring(t, filepath.Join(t.TempDir(), "queue.db"), time.Hour, nil)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	p := newPlanned()
	q := NewManager(s, p, ManagerConfig{MaxActive: 10, Clock: clk, Scheduler: SchedulerConfig{InitialWindow: 1}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { close(p.stop); cancel(); q.Wait() }()
	// Queued before the scheduler runs, in one commit: its claim is
	// then the last commit before the deliveries.
	var ids []ID
	if err := s.Update(ctx, func(tx *Tx) error {
		ids = ids[:0]
		for i := 0; i < 6; i++ {
			m := txMsg(tx, "a@example.org", "x@one.test")
			m.State, m.NextAttempt, m.Arrived = Ready, clk.Now(), clk.Now()
			if err := tx.PutNew(m, []byte(body)); err != nil {
				return err
			}
			ids = append(ids, m.ID)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	q.Start(ctx)
	waitFor(t, "every message delivered while results wait for a commit", func() bool { return p.count(p.done, "one.test") == 6 })
	// The results are set aside (for an hour, on this store); a commit
	// takes them. The last job hands its results over just after its
	// delivery returns, so commit until every one has ridden along — with
	// no commit they would stay for the hour.
	left := func() (n int) {
		for _, id := range ids {
			if _, err := q.Message(id); !errors.Is(err, ErrNotFound) {
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(30 * time.Second)
	for left() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of 6 delivered messages still stored after commits for 30 s", left())
		}
		if err := s.Update(ctx, func(*Tx) error { return nil }); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Settle returns only once the deferred writers before it are committed
// (an operator's command reads after it).
func TestSettleCommitsDeferredWriters(t *testing.T) {
	s := openDeferring(t, filepath.Join(t.TempDir(), "queue.db"), time.Hour, nil)
	if err := s.Settle(context.Background()); err != nil { // nothing deferred: no commit
		t.Fatal(err)
	}
	var mu sync.Mutex
	var order []ID
	m := msg(s, "a@example.org", "x@example.net")
	m.State = Ready
	o := putOp(m, true, &order, &mu)
	s.deferredN.Add(1) // as UpdateDeferred does before sending
	done := sendOp(t, s, o)
	if err := s.Settle(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.View(func(tx *Tx) error { _, err := tx.Get(m.ID); return err }); err != nil {
		t.Fatalf("Settle returned before the deferred writer was committed: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
