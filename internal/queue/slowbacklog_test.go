package queue

import (
	"bufio"
	"context"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/clock"
)

// tokenHop is an SMTP server that answers the end of each message only
// when a token arrives on its channel: a slow but healthy next hop whose
// every delivery ends when the test says so. inData counts the sessions
// waiting there for their token.
func tokenHop(t *testing.T) (addr string, inData *atomic.Int32, tokens chan struct{}) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	inData, tokens = new(atomic.Int32), make(chan struct{}, 64)
	done := make(chan struct{})
	var conns sync.WaitGroup
	t.Cleanup(func() { close(done); ln.Close(); conns.Wait() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer conns.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(60 * time.Second))
				r := bufio.NewReader(c)
				say := func(l string) { c.Write([]byte(l + "\r\n")) }
				say("220 slow.test ESMTP")
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					switch strings.ToUpper(strings.SplitN(strings.TrimSpace(line), " ", 2)[0]) {
					case "EHLO", "HELO", "MAIL", "RCPT", "RSET", "NOOP":
						say("250 ok")
					case "DATA":
						say("354 go ahead")
						for {
							l, err := r.ReadString('\n')
							if err != nil {
								return
							}
							if l == ".\r\n" {
								break
							}
						}
						inData.Add(1)
						select {
						case <-tokens:
						case <-done:
							return
						}
						inData.Add(-1)
						say("250 2.0.0 queued")
					case "QUIT":
						say("221 bye")
						return
					default:
						say("502 unknown")
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), inData, tokens
}

// SPEC Q-6 (no head-of-line blocking; delivery workers get only work
// they can start now): a backlog for one slow but healthy destination
// does not keep another destination's mail out of the active set. With
// max_active 4 and a window of 1 (its max_connections), a next hop that
// delivers — slowly — held one session and three messages claimed behind
// it, waiting for its window; its further mail and a message for a
// healthy next hop were due, and the healthy one stayed unclaimed until
// every message of the backlog before it in the time index had been
// delivered, one slow delivery at a time (sched31 D2: releaseBusy gave
// back only the slots of a destination that may hang, and the reserve
// did not see mail waiting in the time index). The healthy message is
// delivered while the slow session is still in its DATA; the backlog is
// delivered in full afterwards.
func TestSlowDestinationBacklogLeavesASlotForOthers(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Now())
	slow, inData, tokens := tokenHop(t)
	h := &windowHops{
		smtpHops: &smtpHops{addrs: map[string]string{"slow.test": slow, "fast.test": healthyHop(t)}, done: map[string]int{}},
		max:      map[string]int{"slow.test": 1},
	}
	q := NewManager(s, h, ManagerConfig{MaxActive: 4, Clock: clk, Scheduler: SchedulerConfig{InitialWindow: 5}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	slowDone := func() int {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.done["slow.test"]
	}
	// One delivery first: the destination has shown that it ends its
	// jobs (it may not hang).
	tokens <- struct{}{}
	if err := q.Submit(ctx, msg(s, "a@example.org", "x@slow.test"), []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first slow delivery", func() bool { return slowDone() == 1 })
	const backlog = 8
	for range backlog {
		if err := q.Submit(ctx, msg(s, "a@example.org", "x@slow.test"), []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the slow next hop in its DATA", func() bool { return inData.Load() == 1 })
	if err := q.Submit(ctx, msg(s, "a@example.org", "z@fast.test"), []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the healthy message delivered beside the slow destination's backlog", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.done["fast.test"] == 1
	})
	if n := inData.Load(); n != 1 || slowDone() != 1 {
		t.Fatalf("the slow next hop has %d sessions in DATA and %d deliveries, want 1 and 1 (its window of 1, no token given)", n, slowDone())
	}
	// Its backlog is delivered in full, one session at a time, whatever
	// waited in the time index meanwhile.
	for i := range backlog {
		tokens <- struct{}{}
		waitFor(t, "the backlog delivered", func() bool { return slowDone() >= 2+i })
	}
	waitFor(t, "every message done", func() bool { return len(messages(t, s)) == 0 })
}
