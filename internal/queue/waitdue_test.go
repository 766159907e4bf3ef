package queue

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// slotWait plans the recipients of x.example into one destination of
// window 1, and y.example into another; the others (the DSNs' sender)
// run at once without a window. Deliveries of hold's message wait on
// gate (a tarpit holding the window); the bodies of the messages to the
// sender (the DSNs) are kept.
type slotWait struct {
	mu    sync.Mutex
	gate  chan struct{}
	hold  ID
	calls map[string]int // deliveries by recipient
	dsns  []string
	reply map[string]Result // by recipient: an answer other than 250
}

func newSlotWait() *slotWait {
	return &slotWait{gate: make(chan struct{}), calls: map[string]int{}, reply: map[string]Result{}}
}

func (o *slotWait) Plan(_ context.Context, m *Message, rcpts []int) []Job {
	var jobs []Job
	by := map[string]int{}
	for _, i := range rcpts {
		_, dom, _ := strings.Cut(m.Rcpts[i].Addr, "@")
		k, ok := by[dom]
		if !ok {
			k = len(jobs)
			by[dom] = k
			j := Job{}
			if dom == "x.example" || dom == "y.example" {
				j = Job{Dest: "mx/" + dom, Queue: "mx:" + dom, Max: 1}
			}
			jobs = append(jobs, j)
		}
		jobs[k].Rcpts = append(jobs[k].Rcpts, i)
	}
	return jobs
}

func (o *slotWait) Deliver(_ context.Context, m *Message, body []byte, rcpts []int) []Result {
	o.mu.Lock()
	hold := m.ID == o.hold
	o.mu.Unlock()
	if hold {
		<-o.gate
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]Result, len(rcpts))
	for k, i := range rcpts {
		addr := m.Rcpts[i].Addr
		o.calls[addr]++
		if addr == "a@example.org" {
			o.dsns = append(o.dsns, string(body))
		}
		if r, ok := o.reply[addr]; ok {
			r.Rcpt = i
			out[k] = r
			continue
		}
		out[k] = Result{Rcpt: i, Outcome: RelayedOK, NextHop: "mx." + addr, Reply: "250 ok"}
	}
	return out
}

func (o *slotWait) delivered(addr string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.calls[addr]
}

// dsnsAbout is the DSN bodies that report addr with action.
func (o *slotWait) dsnsAbout(addr, action string) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []string
	for _, b := range o.dsns {
		if strings.Contains(b, "Final-Recipient: rfc822; "+addr) && strings.Contains(b, "Action: "+action) {
			out = append(out, b)
		}
	}
	return out
}

// A message whose job waits for a slot of its destination's window
// (the window full with a session that hangs) gets its delay notice when
// it falls due, and fails as expired at its expiry without its job ever
// starting: the README's "each goes when it falls due … no retry starts
// at or after the expiry" whatever the delivery state (Q-, DSN timing;
// rt24d F1: it was sent after its expiry, with no DSN at all).
func TestWaitingForWindowGetsDelayNoticeAndExpiry(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	o := newSlotWait()
	q := NewManager(s, o, ManagerConfig{MaxActive: 100, Clock: clk, Hostname: "mx.test",
		RetrySchedule: []time.Duration{30 * time.Second}, MessageExpiration: 60 * time.Second, DelayNotification: 10 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	var open sync.Once
	release := func() { open.Do(func() { close(o.gate) }) }
	defer func() { release(); cancel(); q.Wait() }()
	q.Start(ctx)

	m1 := msg(s, "a@example.org", "first@x.example")
	m1.Arrived = t0
	o.mu.Lock()
	o.hold = m1.ID
	o.mu.Unlock()
	if err := q.Submit(ctx, m1, []byte(body)); err != nil {
		t.Fatal(err)
	}
	m2 := msg(s, "a@example.org", "w@x.example")
	m2.Arrived = t0
	m2.Attempts = 1 // a retry: tried before, the expiry binds it (one never tried waits for its first attempt, expiryrule_test.go)
	if err := q.Submit(ctx, m2, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "m2 waiting for the window", func() bool { return q.WaitingForWindow(m2.ID) })

	clk.Advance(10 * time.Second) // the delay notice's time
	waitFor(t, "m2's delay DSN at 10s", func() bool { return len(o.dsnsAbout("w@x.example", "delayed")) == 1 })
	waitFor(t, "m2 notified, waiting", func() bool {
		for _, m := range messages(t, s) {
			if m.ID == m2.ID {
				return m.DelayNotified
			}
		}
		return false
	})
	if n := o.delivered("w@x.example"); n != 0 {
		t.Fatalf("m2 delivered %d times while the window was full", n)
	}

	clk.Advance(25 * time.Second) // claimed again, waiting again
	waitFor(t, "m2 waiting for the window again", func() bool { return q.WaitingForWindow(m2.ID) })
	clk.Advance(25 * time.Second) // t0+60s: the expiry
	waitFor(t, "m2's expiry DSN at 60s", func() bool { return len(o.dsnsAbout("w@x.example", "failed")) == 1 })
	fail := o.dsnsAbout("w@x.example", "failed")[0]
	if !strings.Contains(fail, "Status: 5.4.7") {
		t.Errorf("expiry DSN:\n%s", fail)
	}
	waitFor(t, "m2 gone", func() bool {
		for _, m := range messages(t, s) {
			if m.ID == m2.ID {
				return false
			}
		}
		return true
	})
	release()
	waitFor(t, "m1 delivered", func() bool { return o.delivered("first@x.example") == 1 })
	if n := o.delivered("w@x.example"); n != 0 {
		t.Errorf("m2 delivered %d times after its expiry", n)
	}
	if n := len(o.dsnsAbout("w@x.example", "delayed")); n != 1 {
		t.Errorf("%d delay DSNs for m2, want 1", n)
	}
}
