package queue

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/clock"
)

// rt11 F7: after a crash, every message that counted it is a suspect.
// Their jobs run umbra's code up to their first wait on a peer one at a
// time, so that a second kill finds at most one of them there: a crash
// loop right after a start no longer parks dozens of bystanders. Before,
// all five ran that section at once. Here each hangs on its peer, so the
// next one starts only when the turn's bound (SuspectTurn) passes on the
// fake clock, advanced once the one holding it waits.
func TestSuspectsRunTheirOwnCodeOneAtATime(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 5
	ids := submitReady(t, s, n)
	if err := s.Update(context.Background(), func(tx *Tx) error {
		for _, id := range ids {
			m, err := tx.Get(id)
			if err != nil {
				return err
			}
			m.CrashCount = 1
			if err := tx.Put(m); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Now().Add(time.Second))
	var inOwn, most atomic.Int32
	waiting := make(chan struct{}, n)
	release := make(chan struct{})
	q := NewManager(s, DelivererFunc(func(ctx context.Context, m *Message, _ []byte, rcpts []int) []Result {
		k := inOwn.Add(1)
		for {
			if m := most.Load(); k <= m || most.CompareAndSwap(m, k) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond) // umbra's code, long enough for the others to come in
		inOwn.Add(-1)
		defer AwaitingPeer(ctx)()
		waiting <- struct{}{}
		<-release
		return nil
	}), ManagerConfig{PoisonThreshold: 5, Clock: clk})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { close(release); cancel(); q.Wait(); s.Close() }()
	q.Start(ctx)
	for i := range n {
		select {
		case <-waiting:
		case <-time.After(30 * time.Second): // a bound on the test
			t.Fatalf("%d of %d suspects reached their wait on the peer", i, n)
		}
		clk.Advance(DefaultSuspectTurn) // the one waiting hangs: its turn passes on
	}
	if m := most.Load(); m != 1 {
		t.Fatalf("%d suspects ran umbra's code at once, want 1", m)
	}
}

// armLate is a fake clock that moves by a whole bound while a timer is
// being armed: what a goroutine descheduled between reading the clock
// and arming its timer sees when the time moves on meanwhile (a loaded
// machine under -race, and a test advancing its fake clock).
type armLate struct {
	*clock.Fake
	by time.Duration
}

func (c armLate) NewTimer(d time.Duration) clock.Timer {
	c.Fake.Advance(c.by)
	return c.Fake.NewTimer(d)
}

// The suspects' turn is bounded by the clock: a suspect waiting for it
// takes it once the holder has had it for the bound, even when the clock
// passed the bound between its reading and the arming of its timer.
// Before, its timer was armed for the whole remaining bound from then
// on, a bound late (on a fake clock, never: how
// TestSuspectsRunTheirOwnCodeOneAtATime hung once, "1 of 5 suspects
// reached their wait").
func TestSuspectTurnBoundedByTheClockNotByTheArming(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_000_000_000, 0))
	var g suspectGate
	holder, waiter := &attempt{}, &attempt{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if !g.acquire(ctx, holder, clk, DefaultSuspectTurn, never, nil) {
		t.Fatal("a free turn not taken")
	}
	got := make(chan bool, 1)
	go func() {
		got <- g.acquire(ctx, waiter, armLate{clk, DefaultSuspectTurn}, DefaultSuspectTurn, never, nil)
	}()
	select {
	case ok := <-got:
		if !ok || g.holder != waiter {
			t.Fatalf("acquire %v, holder is the waiter %v", ok, g.holder == waiter)
		}
	case <-time.After(30 * time.Second): // a bound on the test
		t.Fatal("the waiter still waits for a turn whose bound passed by the clock")
	}
}

// never is acquire's parked for a gate outside a manager: no stall
// parks its jobs.
func never() bool { return false }

// Q-6, the bound of the active set: a suspect's job lends its message's
// slot for its wait for the turn alone. It lent it around every
// acquire, the turn free or its attempt's own too: the loop, kicked,
// could claim a message into a slot lent for no wait, and the set held
// one more message than its bound from then on.
func TestSuspectLendsItsSlotOnlyWhileItWaits(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_000_000_000, 0))
	var g suspectGate
	holder, waiter := &attempt{}, &attempt{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var lends, returned atomic.Int32
	lend := func() func() { lends.Add(1); return func() { returned.Add(1) } }
	if !g.acquire(ctx, holder, clk, DefaultSuspectTurn, never, lend) {
		t.Fatal("a free turn not taken")
	}
	if !g.acquire(ctx, holder, clk, DefaultSuspectTurn, never, lend) {
		t.Fatal("its attempt's own turn not taken")
	}
	if n := lends.Load(); n != 0 {
		t.Fatalf("%d slots lent for a turn taken at once, want 0", n)
	}
	got := make(chan bool, 1)
	go func() { got <- g.acquire(ctx, waiter, clk, DefaultSuspectTurn, never, lend) }()
	waitFor(t, "the waiter lending its slot", func() bool { return lends.Load() == 1 })
	g.release(holder)
	select {
	case ok := <-got:
		if !ok {
			t.Fatal("the turn given back not taken")
		}
	case <-time.After(30 * time.Second): // a bound on the test
		t.Fatal("the waiter still waits for a turn given back")
	}
	if l, r := lends.Load(), returned.Load(); l != 1 || r != 1 {
		t.Fatalf("lent %d, returned %d; want the one wait's slot lent and returned once", l, r)
	}
}
