package queue

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// taskClient is a scheduler client as shadow redundancy is one: at each
// step it tries to start one session to its primary as a task of the
// primary's destination (window 1); the session runs until the test
// ends it with a result.
type taskClient struct {
	q       *Manager
	mu      sync.Mutex
	steps   int
	started int
	refused int
	finish  chan error
}

func (c *taskClient) Step(ctx context.Context) time.Duration {
	ok := c.q.StartTask(ctx, "shadow:hub-b", "shadow:hub-b", 1, func(ctx context.Context) error {
		select {
		case err := <-c.finish:
			return err
		case <-ctx.Done():
			return nil
		}
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	c.steps++
	if ok {
		c.started++
	} else {
		c.refused++
	}
	return time.Second
}

func (c *taskClient) counts() (steps, started, refused int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.steps, c.started, c.refused
}

func destInfo(q *Manager, name string) (DestinationInfo, bool) {
	for _, d := range q.Destinations() {
		if d.Name == name {
			return d, true
		}
	}
	return DestinationInfo{}, false
}

// The scheduler drives its clients' timing: a client is stepped when it
// asked to be, at once when a sender starts waiting on a primary
// (markUrgent) and at once after the clock stepped back; its tasks run
// in their destination's window (one at a time: a hung session holds
// its own window, the next is refused, not queued), show in
// Destinations, and a failing one counts failures without ever making
// the destination dead. Wait waits for the tasks.
func TestClientTasksRunInTheirWindow(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, newPlanned(), ManagerConfig{Clock: clk})
	c := &taskClient{q: q, finish: make(chan error)}
	// A copy held for hub-b: its tasks' destination is listed while
	// this server holds something of hub-b's (tasks.go).
	cp := msg(s, "a@example.org", "x@b.example")
	cp.Arrived, cp.State, cp.Rcpts[0].Status, cp.Rcpts[0].Primary, cp.Rcpts[0].ShadowID = clk.Now(), Shadow, Shadowed, "hub-b", "b1"
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(cp, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	q.Start(ctx, c)
	waitFor(t, "the first step", func() bool { st, _, _ := c.counts(); return st == 1 })
	waitFor(t, "the scheduler asleep", func() bool { return clk.Pending() > 0 })

	// Hung: the window holds one session; the next steps are refused.
	for i := 2; i <= 4; i++ {
		clk.Advance(time.Second)
		waitFor(t, "the next step", func() bool { st, _, _ := c.counts(); return st == i })
	}
	if _, started, refused := c.counts(); started != 1 || refused != 3 {
		t.Fatalf("a hung session's window: %d started, %d refused; want 1, 3", started, refused)
	}
	if d, ok := destInfo(q, "shadow:hub-b"); !ok || d.Running != 1 || d.Max != 1 || d.State != "active" {
		t.Fatalf("destination of the sessions: %+v (listed %v)", d, ok)
	}

	// It fails: counted, never dead; the next step starts the next one.
	c.finish <- errors.New("451 4.4.2 timeout")
	waitFor(t, "the failure counted", func() bool { d, _ := destInfo(q, "shadow:hub-b"); return d.Failures == 1 })
	if d, _ := destInfo(q, "shadow:hub-b"); d.State == "dead" || d.LastError == "" || d.Running != 0 {
		t.Fatalf("after a failed session: %+v", d)
	}
	steps, _, _ := c.counts()
	waitFor(t, "the scheduler asleep", func() bool { return clk.Pending() > 0 })
	clk.Advance(time.Second)
	waitFor(t, "a new session", func() bool { _, started, _ := c.counts(); return started == 2 })

	// It is refused (the primary answered and refused this server's
	// shadow session: alive): the refusal is the last error, and no
	// failure in a row — rt14 F7 showed 5 failures in a row, above the
	// retry count, for a primary that is never taken over for them.
	c.finish <- taskRefusal{"535 5.7.8 Authentication failed"}
	waitFor(t, "the refusal recorded", func() bool {
		d, _ := destInfo(q, "shadow:hub-b")
		return d.Running == 0 && d.LastError == "refused by the primary: 535 5.7.8 Authentication failed"
	})
	if d, _ := destInfo(q, "shadow:hub-b"); d.Failures != 0 || d.State == "dead" {
		t.Fatalf("after a refused session: %+v; want no failure in a row", d)
	}
	waitFor(t, "the scheduler asleep", func() bool { return clk.Pending() > 0 })
	clk.Advance(time.Second)
	waitFor(t, "a new session", func() bool { _, started, _ := c.counts(); return started == 3 })

	// A sender starts waiting on the primary: stepped at once, no clock move.
	steps, _, _ = c.counts()
	q.markUrgent("hub-b")
	waitFor(t, "the urgent step", func() bool { st, _, _ := c.counts(); return st == steps+1 })
	if u := q.ShadowUrgent(); !u["hub-b"].After(clk.Now()) {
		t.Fatalf("urgent primaries: %v", u)
	}
	q.markUrgent("hub-b") // still urgent: no extra step
	time.Sleep(20 * time.Millisecond)
	if st, _, _ := c.counts(); st != steps+1 {
		t.Fatalf("%d steps for a primary already urgent, want %d", st, steps+1)
	}

	// The clock steps back an hour: the next step comes after the second
	// the client asked for, not an hour later.
	steps, _, _ = c.counts()
	waitFor(t, "the scheduler asleep", func() bool { return clk.Pending() > 0 })
	clk.Jump(-time.Hour)
	clk.Advance(time.Second)
	waitFor(t, "a step after the clock went back", func() bool { st, _, _ := c.counts(); return st > steps })

	// Shutdown: the running session ends with the context; Wait waits for it.
	cancel()
	done := make(chan struct{})
	go func() { q.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return after the tasks ended")
	}
	if q.StartTask(context.Background(), "shadow:hub-b", "shadow", 1, func(context.Context) error { return nil }) {
		t.Fatal("a task started after the scheduler stopped")
	}
}

// taskRefusal is a session's error the primary answered with a refusal
// (as shadow.Refusal).
type taskRefusal struct{ reply string }

func (e taskRefusal) Error() string   { return "refused by the primary: " + e.reply }
func (e taskRefusal) Refusal() string { return e.reply }

// A task that retries inside itself (a watch session to a primary that
// does not answer, one connection a second) reports each failed try
// while it runs: its row shows it running with the failures in a row
// and the last error, not a clean running task (rt27 F8); the primary's
// answer clears them.
func TestRunningTaskReportsFailures(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, newPlanned(), ManagerConfig{Clock: clk})
	cp := msg(s, "a@example.org", "x@b.example")
	cp.Arrived, cp.State, cp.Rcpts[0].Status, cp.Rcpts[0].Primary, cp.Rcpts[0].ShadowID = clk.Now(), Shadow, Shadowed, "hub-b", "b1"
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(cp, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	tries := make(chan error)
	if !q.StartTask(ctx, "shadow-watch:hub-b", "shadow:hub-b", 1, func(ctx context.Context) error {
		for {
			select {
			case err := <-tries:
				q.TaskFailed("shadow-watch:hub-b", err)
			case <-ctx.Done():
				return nil
			}
		}
	}) {
		t.Fatal("the task did not start")
	}
	for i := 1; i <= 3; i++ {
		tries <- errors.New("dial tcp 127.0.0.2:25: connection refused")
		waitFor(t, "the failure counted", func() bool { d, _ := destInfo(q, "shadow-watch:hub-b"); return d.Failures == i })
	}
	d, ok := destInfo(q, "shadow-watch:hub-b")
	if !ok || d.Running != 1 || d.LastError != "dial tcp 127.0.0.2:25: connection refused" || d.State == "dead" {
		t.Fatalf("row of a running task whose tries fail: %+v (listed %v)", d, ok)
	}
	q.primaryAnswered("hub-b")
	if d, _ := destInfo(q, "shadow-watch:hub-b"); d.Failures != 0 || d.LastError != "" || d.Running != 1 {
		t.Fatalf("after the primary answered: %+v", d)
	}
}

type localTaskFault struct{}

func (localTaskFault) Error() string { return "internal error (recovered panic): boom" }
func (localTaskFault) LocalFault()   {}

// SR-7, Q-6: a task that ends by a fault of this server's own (a panic
// recovered in the session, its store failing: shadow.LocalFault)
// learnt nothing of the peer: its destination keeps its failures in a
// row and its window — no success clears them — and shows the fault as
// its last error.
func TestTaskLocalFaultIsNeitherSuccessNorFailure(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, newPlanned(), ManagerConfig{Clock: clk})
	cp := msg(s, "a@example.org", "x@b.example") // a copy held for hub-b: its row is listed
	cp.Arrived, cp.State, cp.Rcpts[0].Status, cp.Rcpts[0].Primary, cp.Rcpts[0].ShadowID = clk.Now(), Shadow, Shadowed, "hub-b", "b1"
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(cp, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	run := func(err error) {
		done := make(chan struct{})
		if !q.StartTask(ctx, "shadow:hub-b", "shadow:hub-b", 1, func(context.Context) error { defer close(done); return err }) {
			t.Fatal("the task did not start")
		}
		<-done
		waitFor(t, "the task's slot given back", func() bool { d, _ := destInfo(q, "shadow:hub-b"); return d.Running == 0 })
	}
	run(errors.New("dial tcp 127.0.0.2:25: connection refused"))
	run(errors.New("dial tcp 127.0.0.2:25: connection refused"))
	run(localTaskFault{})
	d, _ := destInfo(q, "shadow:hub-b")
	if d.Failures != 2 || d.LastError != "internal error (recovered panic): boom" {
		t.Fatalf("after two failures and a local fault: %+v (want 2 failures in a row kept, the fault as last error)", d)
	}
}
