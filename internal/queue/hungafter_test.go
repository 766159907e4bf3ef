package queue

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// turnsHungHop serves its first `good` connections as healthyHop does,
// then accepts and never greets (a next hop that delivered fine and
// then hung); open counts the hung sessions it holds.
func turnsHungHop(t *testing.T, good int32) (addr string, open *atomic.Int32) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	open = new(atomic.Int32)
	var served atomic.Int32
	var conns sync.WaitGroup
	t.Cleanup(func() { ln.Close(); conns.Wait() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			if served.Add(1) > good {
				open.Add(1)
				go func() {
					defer conns.Done()
					defer open.Add(-1)
					c.Read(make([]byte, 1))
					c.Close()
				}()
				continue
			}
			go func() {
				defer conns.Done()
				serveHop(c, "220 slow.test ESMTP", 20*time.Second, nil)
			}()
		}
	}()
	return ln.Addr().String(), open
}

// SPEC Q-6: TestHungDestinationLeavesAnActiveSlot's variant for a
// destination that delivered a message fine and then hangs at its
// greeting. Six messages for it arrive at once; no job of it is overdue
// yet and no other destination has mail, and the reserve was lifted
// (reserveNeeded): they took all four slots, and a message to a healthy
// next hop submitted a moment later waited for a hung session to end
// (the command timeout; here never). A success proves the jobs started
// before it, not the ones started since: no more than two of those run
// into the reserve. The clock never moves: no timeout and no overdue job
// can be what lets the healthy mail through.
func TestHungAfterSuccessLeavesAnActiveSlot(t *testing.T) {
	slow, open := turnsHungHop(t, 1)
	r := startHopRig(t, openTest(t), map[string]string{"slow.test": slow, "fast.test": healthyHop(t)}, nil,
		ManagerConfig{MaxActive: 4, Scheduler: SchedulerConfig{InitialWindow: 5}})
	r.deliverFirst(t, "slow.test")
	r.submit(t, 6, "x@slow.test")
	waitFor(t, "the hung next hop holding sessions", func() bool { return open.Load() >= 3 })
	time.Sleep(300 * time.Millisecond) // the burst's other messages claimed (held or started): no timing is asserted
	r.submit(t, 1, "y@fast.test")
	waitFor(t, "the healthy message delivered while the hung sessions hang", func() bool { return r.h.delivered("fast.test") == 1 })
	for _, d := range r.q.Destinations() {
		if d.Name == "mx/slow.test" && d.Running >= 4 {
			t.Fatalf("the destination that delivered once and then hung runs %d jobs: every slot of the active set of 4", d.Running)
		}
	}
}

// SPEC Q-6: with max_active 2, a next hop that delivered once and then
// hangs at its greeting takes both slots with the two messages that
// follow (the only destination with mail uses the whole set:
// TestOnlyDestinationUsesTheWholeActiveSet). Once its sessions are
// overdue (four times its average, a second at least) they no longer
// hold the set from another destination's mail: the scheduler lends
// that mail the reserve's slot, and it is delivered while the hung
// sessions still hang. Seen to fail first: the healthy message waited
// for a hung session to end (the command timeout; here never).
func TestHungDestinationLendsTheReserveToOthers(t *testing.T) {
	slow, open := turnsHungHop(t, 1)
	r := startHopRig(t, openTest(t), map[string]string{"slow.test": slow, "fast.test": healthyHop(t)}, nil,
		ManagerConfig{MaxActive: 2, Scheduler: SchedulerConfig{InitialWindow: 5}})
	r.deliverFirst(t, "slow.test")
	r.submit(t, 2, "x@slow.test")
	waitFor(t, "the hung next hop holding both slots", func() bool { return open.Load() >= 2 })
	r.submit(t, 1, "y@fast.test")
	r.clk.Advance(2 * time.Second) // the hung sessions overdue (a second at least)
	r.q.Kick()
	waitFor(t, "the healthy message delivered while the hung sessions hang", func() bool { return r.h.delivered("fast.test") == 1 })
	if n := open.Load(); n < 2 {
		t.Fatalf("%d hung sessions left: the healthy mail went only once one ended", n)
	}
}
