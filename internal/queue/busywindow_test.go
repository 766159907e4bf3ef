package queue

import (
	"context"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/clock"
)

// windowHops is smtpHops with a window limit of its own for some
// destinations (a send connector's max_connections).
type windowHops struct {
	*smtpHops
	max map[string]int
}

func (h *windowHops) Plan(ctx context.Context, m *Message, rcpts []int) []Job {
	jobs := h.smtpHops.Plan(ctx, m, rcpts)
	for i := range jobs {
		jobs[i].Max = h.max[domainOf(m.Rcpts[rcpts[0]].Addr)]
	}
	return jobs
}

// gatedHop is an SMTP server that greets and takes every command at
// once but answers the end of DATA only once gate is closed (a slow but
// legitimate next hop: an LMTP store filing a large delivery); inData
// counts the sessions waiting there.
func gatedHop(t *testing.T) (addr string, inData *atomic.Int32, gate chan struct{}) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	inData, gate = new(atomic.Int32), make(chan struct{})
	var once sync.Once
	var conns sync.WaitGroup
	t.Cleanup(func() { once.Do(func() { close(gate) }); ln.Close(); conns.Wait() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer conns.Done()
				serveHop(c, "220 slow.test ESMTP", 60*time.Second, func() {
					inData.Add(1)
					<-gate
				})
			}()
		}
	}()
	return ln.Addr().String(), inData, gate
}

// SPEC Q-6 (no head-of-line blocking): a message whose only job waits
// for its own destination's window holds no slot of the active set. With
// max_active 4, a next hop that hangs at its greeting with a window of 2
// (its max_connections) holds two sessions; the third message for it was
// claimed and waited behind them in the active set, a slow but
// legitimate delivery took the fourth slot, and a message to a healthy
// next hop stayed due and unclaimed until the hung sessions timed out
// (the command timeout; here never: the clock does not move). The third
// message waits in the time index on "destination busy" instead.
func TestBusyWindowHoldsNoActiveSlot(t *testing.T) {
	hung, open := hangingHop(t)
	slow, inData, _ := gatedHop(t)
	r := startHopRig(t, openTest(t), map[string]string{"hung.test": hung, "slow.test": slow, "fast.test": healthyHop(t)},
		map[string]int{"hung.test": 2}, ManagerConfig{MaxActive: 4, Scheduler: SchedulerConfig{InitialWindow: 5}})
	s, q, ctx := r.s, r.q, r.ctx
	var hungIDs []ID
	for range 3 {
		m := msg(s, "a@example.org", "x@hung.test")
		if err := q.Submit(ctx, m, []byte(body)); err != nil {
			t.Fatal(err)
		}
		hungIDs = append(hungIDs, m.ID)
	}
	waitFor(t, "the hung next hop holding its window of 2", func() bool { return open.Load() >= 2 })
	waitFor(t, "the third message for it looked at", func() bool {
		for _, d := range q.Destinations() {
			if d.Name == "mx/hung.test" && d.Running == 2 && d.Waiting == 1 {
				return true
			}
		}
		return false
	})
	r.submit(t, 1, "y@slow.test")
	waitFor(t, "the slow delivery in its DATA", func() bool { return inData.Load() == 1 })
	r.submit(t, 1, "z@fast.test")
	waitFor(t, "the healthy message delivered beside the hung sessions and the slow delivery", func() bool { return r.h.delivered("fast.test") == 1 })
	if n := open.Load(); n != 2 {
		t.Fatalf("the hung next hop holds %d sessions, want its window of 2", n)
	}
	// The third message is not in delivery: it waits in the time index,
	// listed as waiting for a slot of its destination.
	waitFor(t, "the third message back in the time index on destination busy", func() bool {
		var m *Message
		_ = s.View(func(tx *Tx) error { m, _ = tx.Get(hungIDs[2]); return nil })
		return m != nil && m.State == Ready && isThrottleReply(m.Rcpts[0].LastReply)
	})
}

// SPEC Q-3 (delay notification and expiry with a DSN, RFC 3464): a
// message never attempted — each time it was due, its destination's
// window was full of sessions hung at their greeting — is reported as
// not delivered yet, waiting for a delivery slot: no Diagnostic-Code
// (which carries a remote host's reply, §2.3.6) and no status of a host
// (4.3.2, "system not accepting network messages", is umbra's own
// window here), for its delay notice and for its expiry. Seen to fail
// first: "Status: 4.3.2" and a Diagnostic-Code of umbra's own type
// quoting "452 4.3.2 destination busy: waiting for a delivery slot".
func TestNeverAttemptedDSNSaysSo(t *testing.T) {
	s := openTest(t)
	t0 := time.Unix(1_700_000_000, 0)
	clk := clock.NewFake(t0)
	hung, open := hangingHop(t)
	h := &windowHops{
		smtpHops: &smtpHops{addrs: map[string]string{"hung.test": hung}, done: map[string]int{}},
		max:      map[string]int{"hung.test": 2},
	}
	q := NewManager(s, h, ManagerConfig{MaxActive: 4, Clock: clk, DelayNotification: time.Minute, MessageExpiration: 5 * time.Minute,
		Scheduler: SchedulerConfig{InitialWindow: 5, ThrottleRecheck: 10 * time.Second}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	for range 2 {
		m := msg(s, "a@example.org", "x@hung.test")
		m.Arrived = clk.Now()
		if err := q.Submit(ctx, m, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the hung next hop holding its window of 2", func() bool { return open.Load() >= 2 })
	third := msg(s, "c@example.org", "z@hung.test")
	third.Arrived = clk.Now()
	if err := q.Submit(ctx, third, []byte(body)); err != nil {
		t.Fatal(err)
	}
	dsnTo := func(kind string) *Message {
		for _, m := range messages(t, s) {
			if m.Connector == "dsn" && m.Rcpts[0].Addr == "c@example.org" {
				if b, err := q.Body(m.ID); err == nil && strings.Contains(string(b), "Action: "+kind) {
					return m
				}
			}
		}
		return nil
	}
	var delay, failure *Message
	for i := 0; i < 80 && (delay == nil || failure == nil); i++ {
		clk.Advance(5 * time.Second) // its rechecks, its delay notice, its expiry
		q.Kick()
		time.Sleep(20 * time.Millisecond)
		delay, failure = dsnTo("delayed"), dsnTo("failed")
	}
	if delay == nil || failure == nil {
		t.Fatalf("delay DSN %v, failure DSN %v: want both", delay != nil, failure != nil)
	}
	if got, _ := q.Message(third.ID); got != nil && got.Attempts > 0 {
		t.Fatalf("the third message was attempted %d times: its window never had room", got.Attempts)
	}
	for _, d := range []*Message{delay, failure} {
		b, err := q.Body(d.ID)
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		status := text[strings.Index(text, "Final-Recipient:"):]
		for _, bad := range []string{"Diagnostic-Code:", "Status: 4.3.2", "Remote-MTA:"} {
			if strings.Contains(status, bad) {
				t.Errorf("DSN reports %q for a recipient never attempted:\n%s", bad, text)
			}
		}
		if !strings.Contains(text, "not delivered") || !strings.Contains(text, "waiting for a delivery slot") {
			t.Errorf("DSN does not say the recipient was not delivered, waiting for a delivery slot:\n%s", text)
		}
	}
}

// SPEC Q-6: TestBusyWindowHoldsNoActiveSlot's sibling for a next hop
// that delivered once and then hung at its greeting, with a window of
// 2: its third message waits behind the two hung sessions while the set
// has room, a slow but legitimate delivery takes the last slot, and a
// message to a healthy next hop is due with no room. The success
// vouches for the destination until its sessions are overdue (four
// times its average, a second at least); from then on the waiting
// message may give its slot back (releaseBusy: a destination with an
// overdue job is not known to end its jobs) and the healthy mail goes
// while the hung sessions still hang. A guard of the overdue path: the
// reserve lent for overdue jobs (claimLimit) let this case through
// before too.
func TestOverdueWindowWaiterGivesItsSlotBack(t *testing.T) {
	hung, open := turnsHungHop(t, 1)
	slow, inData, _ := gatedHop(t)
	r := startHopRig(t, openTest(t), map[string]string{"hung.test": hung, "slow.test": slow, "fast.test": healthyHop(t)},
		map[string]int{"hung.test": 2}, ManagerConfig{MaxActive: 4, Scheduler: SchedulerConfig{InitialWindow: 5}})
	q := r.q
	r.deliverFirst(t, "hung.test")
	r.submit(t, 3, "x@hung.test")
	waitFor(t, "two hung sessions and the third message waiting behind them", func() bool {
		for _, d := range q.Destinations() {
			if d.Name == "mx/hung.test" && d.Running == 2 && d.Waiting == 1 {
				return open.Load() == 2
			}
		}
		return false
	})
	r.submit(t, 1, "y@slow.test")
	waitFor(t, "the slow delivery in its DATA", func() bool { return inData.Load() == 1 })
	r.submit(t, 1, "z@fast.test")
	r.clk.Advance(2 * time.Second) // the hung sessions overdue (a second at least)
	q.Kick()
	waitFor(t, "the healthy message delivered beside the hung sessions and the slow delivery", func() bool { return r.h.delivered("fast.test") == 1 })
	if n := open.Load(); n != 2 {
		t.Fatalf("the hung next hop holds %d sessions, want its window of 2", n)
	}
}
