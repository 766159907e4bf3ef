package queue

import (
	"context"
	"slices"
	"testing"
)

// groupsInOneJob is a Deliverer with no Planner — every recipient is one
// job, as the recipients only the directory routes are — that runs them
// in two groups: x@fast.test relayed at once and reported as its group
// ends (ReportGroup), y@hung.test in a session that hangs until stop.
type groupsInOneJob struct{ stop chan struct{} }

func (g groupsInOneJob) Deliver(ctx context.Context, m *Message, body []byte, rcpts []int) []Result {
	var fast, slow []Result
	for _, i := range rcpts {
		if domainOf(m.Rcpts[i].Addr) == "fast.test" {
			fast = append(fast, Result{Rcpt: i, Outcome: RelayedOK, Queue: "fast.test", NextHop: "mx.fast.test", Reply: "250 2.0.0 ok"})
		} else {
			slow = append(slow, Result{Rcpt: i, Outcome: Deferred, Queue: "hung.test", NextHop: "mx.hung.test", Reply: "451 4.4.2 timeout"})
		}
	}
	ReportGroup(ctx, fast)
	<-g.stop
	return append(fast, slow...)
}

// reread22a F2 (SR-4): the recipients one job routes into several groups
// (the directory's) have each group's results committed when its own
// session ends — the recipient done in the record and the partial
// discard owed to the copy's holder — not when the slowest group's does;
// the job's end leaves them as they are (one event, one attempt).
func TestGroupOfJobCommittedWhileAnotherGroupHangs(t *testing.T) {
	s := openTest(t)
	d := groupsInOneJob{stop: make(chan struct{})}
	ev := &rcptEvents{}
	q := NewManager(s, d, ManagerConfig{Events: ev})
	ctx, cancel := context.WithCancel(context.Background())
	released := false
	defer func() {
		if !released {
			close(d.stop)
		}
		cancel()
		q.Wait()
	}()
	q.Start(ctx)
	m := copiedMessage(s, "x@fast.test", "y@hung.test")
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "x@'s group committed while y@'s group hangs", func() bool {
		got, err := q.Message(m.ID)
		return err == nil && got.Rcpts[0].Status == Relayed && ev.count("send x@fast.test") > 0
	})
	got, _ := q.Message(m.ID)
	if got.State != Active || got.Rcpts[1].Status != Pending {
		t.Fatalf("in delivery: state %v, y@ %v; want active, pending", got.State, got.Rcpts[1].Status)
	}
	partial := PartialDiscard{ID: m.OrgID, Addr: "x@fast.test"}.Wire()
	if owed := owedTo(q, "hub-b"); !slices.Equal(owed, []string{partial}) {
		t.Fatalf("owed to hub-b while y@ hangs: %q; want the partial discard %q", owed, partial)
	}
	close(d.stop)
	released = true
	waitFor(t, "the attempt's end", func() bool {
		got, err := q.Message(m.ID)
		return err == nil && got.State == Ready && ev.count("defer y@hung.test") > 0
	})
	got, _ = q.Message(m.ID)
	if got.Rcpts[0].Status != Relayed || got.Rcpts[1].Status != Pending || got.Attempts != 1 {
		t.Fatalf("after the attempt: x@ %v, y@ %v, attempts %d; want relayed, pending, 1", got.Rcpts[0].Status, got.Rcpts[1].Status, got.Attempts)
	}
	if n := ev.count("send x@fast.test"); n != 1 {
		t.Fatalf("%d send events for x@, want 1", n)
	}
}
