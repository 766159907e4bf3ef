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

// hangingHopAt is hangingHop on a given loopback address: it accepts
// connections and never greets.
func hangingHopAt(t *testing.T, addr string) *atomic.Int32 {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("listening on %s: %v", addr, err)
	}
	open := new(atomic.Int32)
	var conns sync.WaitGroup
	t.Cleanup(func() { ln.Close(); conns.Wait() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			open.Add(1)
			conns.Add(1)
			go func() {
				defer conns.Done()
				defer open.Add(-1)
				c.Read(make([]byte, 1)) // until the client gives up
				c.Close()
			}()
		}
	}()
	return open
}

// splitHops plans each recipient as a job of its own (windowHops').
type splitHops struct{ *windowHops }

func (h *splitHops) Plan(ctx context.Context, m *Message, rcpts []int) []Job {
	var jobs []Job
	for _, i := range rcpts {
		jobs = append(jobs, h.windowHops.Plan(ctx, m, []int{i})...)
	}
	return jobs
}

// Q-3 (sched33): the delay notice made beside a hung first attempt
// reports a recipient whose job only waits for a free connection of its
// destination (window 1, the other job holding it) as what it is:
// Status 4.4.5 (congestion: a slot of its destination, umbra's own) and
// "waiting for a delivery slot" — not 4.4.1, "no answer from host", of
// a recipient no host was asked about. The recipient whose session
// hangs keeps 4.4.1.
func TestQ3DelayNoticeOfRecipientWaitingForSlotSaysCongestion(t *testing.T) {
	s := openTest(t)
	t0 := time.Unix(1_700_000_000, 0)
	clk := clock.NewFake(t0)
	open := hangingHopAt(t, "127.0.0.131:8131")
	h := &splitHops{&windowHops{
		smtpHops: &smtpHops{addrs: map[string]string{"hung.test": "127.0.0.131:8131"}, done: map[string]int{}},
		max:      map[string]int{"hung.test": 1},
	}}
	q := NewManager(s, h, ManagerConfig{MaxActive: 4, Clock: clk, DelayNotification: time.Minute, MessageExpiration: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	m := msg(s, "c@example.org", "x@hung.test", "y@hung.test")
	m.Arrived = clk.Now()
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the session to the next hop that never greets", func() bool { return open.Load() >= 1 })
	var dsn string
	for i := 0; i < 80 && dsn == ""; i++ {
		clk.Advance(5 * time.Second) // the notice at 1m, beside the hung job after its grace
		time.Sleep(20 * time.Millisecond)
		for _, d := range messages(t, s) {
			if d.Connector == "dsn" {
				if b, err := q.Body(d.ID); err == nil && strings.Contains(string(b), "Action: delayed") {
					dsn = string(b)
				}
			}
		}
	}
	if dsn == "" {
		t.Fatal("no delay DSN beside the hung session")
	}
	if n := open.Load(); n != 1 {
		t.Fatalf("%d sessions open; want the one job in the window", n)
	}
	status := map[string]string{}
	for _, block := range strings.Split(dsn, "Final-Recipient: ")[1:] {
		addr, _, _ := strings.Cut(block, "\r\n")
		if _, st, ok := strings.Cut(block, "Status: "); ok {
			st, _, _ = strings.Cut(st, "\r\n")
			status[strings.TrimPrefix(addr, "rfc822;")] = st
		}
	}
	hungAddr, waitAddr := "x@hung.test", "y@hung.test"
	if !strings.Contains(dsnTextLine(dsn, hungAddr), "has replied yet") {
		hungAddr, waitAddr = waitAddr, hungAddr // the window's slot went to y@'s job
	}
	if st := status[" "+waitAddr]; st != "4.4.5" {
		t.Errorf("the recipient waiting for a slot: Status %q, want 4.4.5 (congestion; no host was asked)\n%s", st, dsn)
	}
	if line := dsnTextLine(dsn, waitAddr); !strings.Contains(line, "waiting for a delivery slot") {
		t.Errorf("the recipient waiting for a slot: %q; want it said so\n%s", line, dsn)
	}
	if st := status[" "+hungAddr]; st != "4.4.1" {
		t.Errorf("the recipient whose session hangs: Status %q, want 4.4.1 (no answer from host)\n%s", st, dsn)
	}
	if line := dsnTextLine(dsn, hungAddr); strings.Contains(line, "waits for a free connection") {
		t.Errorf("the recipient whose session hangs: %q; its attempt is under way, it waits for no slot\n%s", line, dsn)
	}
}
