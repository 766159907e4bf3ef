package queue

import (
	"context"
	"testing"
)

// OPS (queue list, message show): a message whose attempt has one job
// running and another waiting for its destination's window is not "in
// delivery" everywhere: the recipients of the waiting job are
// "waiting", those of the running one "active", and queue list counts
// the message "waiting" in the waiting job's queue and "active" in the
// running one's. A message none of whose jobs runs is "waiting" as a
// whole, and so is a queue where nothing runs.
func TestRecipientGroupsShowTheirJobsState(t *testing.T) {
	s := openTest(t)
	p := newPlanned()
	p.stall["a.test"], p.stall["b.test"] = true, true
	q := NewManager(s, p, ManagerConfig{MaxActive: 8, Scheduler: SchedulerConfig{InitialWindow: 1}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { close(p.stop); cancel(); q.Wait() }()
	q.Start(ctx)
	x := msg(s, "a@example.org", "x@a.test") // holds a.test's one slot
	if err := q.Submit(ctx, x, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "x delivering to a.test", func() bool { return p.count(p.calls, "a.test") == 1 })
	m := msg(s, "a@example.org", "m1@a.test", "m2@b.test")
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	y := msg(s, "a@example.org", "y@c.test", "y@a.test") // its c.test job ends at once; its a.test job waits
	waitFor(t, "m delivering to b.test", func() bool { return p.count(p.calls, "b.test") == 1 })
	if err := q.Submit(ctx, y, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "y's c.test recipient answered", func() bool { return p.count(p.done, "c.test") == 1 })
	// The deliverer answered; the manager marks the job ended just
	// after, on its own goroutine: the state is read once it has (on a
	// loaded machine the read came first and found y's job running). A
	// y shown "active" with no job running never gets there.
	waitFor(t, "y's c.test job ended, its a.test job waiting (y shown waiting)", func() bool {
		var ym *Message
		s.View(func(tx *Tx) error { ym, _ = tx.Get(y.ID); return nil })
		return ym != nil && q.StateView().State(ym) == "waiting"
	})

	sv := q.StateView()
	var mm, ym *Message
	s.View(func(tx *Tx) error { mm, _ = tx.Get(m.ID); ym, _ = tx.Get(y.ID); return nil })
	if got := sv.State(mm); got != "active" {
		t.Errorf("m (one job running, one waiting): %s, want active", got)
	}
	if a, b := sv.RecipientStatus(mm, 0), sv.RecipientStatus(mm, 1); a != "waiting" || b != "active" {
		t.Errorf("m's recipients: a.test %s, b.test %s; want waiting, active", a, b)
	}
	if got := sv.State(ym); got != "waiting" {
		t.Errorf("y (no job running, one waiting): %s, want waiting", got)
	}
	qs, err := q.Queues()
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]QueueInfo{}
	for _, qi := range qs {
		by[qi.Name] = qi
	}
	if a := by["mx:a.test"]; a.Count != 3 || a.ByState["active"] != 1 || a.ByState["waiting"] != 2 || a.Status != "active" {
		t.Errorf("mx:a.test %+v, want 3: x active, m and y waiting", a)
	}
	if b := by["mx:b.test"]; b.Count != 1 || b.ByState["active"] != 1 || b.ByState["waiting"] != 0 {
		t.Errorf("mx:b.test %+v, want m active", b)
	}
}
